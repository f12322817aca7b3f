import type { User } from "../app/models/user.server";

/** A patient account bound to `patientId`, as the session would load it. */
export const patient = (patientId: string): User => ({
  id: `user-${patientId}`,
  name: `Patient ${patientId}`,
  username: `p-${patientId.toLowerCase()}`,
  role: "patient",
  patientId,
});

/** An audit company account. */
export const auditor: User = {
  id: "user-auditor",
  name: "Audit Co",
  username: "auditco",
  role: "auditor",
  patientId: null,
};
