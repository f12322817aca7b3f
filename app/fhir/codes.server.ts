// The code systems, profiles and URLs of the FHIR mapping (docs/decisions/013-fhir-balp-mapping.md).

export const ACTION_SYSTEM = "urn:ehr-audit-trail:action";
/** Identifies a reporting source by its name, and the trail itself by its origin. */
export const SOURCE_SYSTEM = "urn:ehr-audit-trail:source";
export const TRAIL_SYSTEM = "urn:ehr-audit-trail:origin";
/** The part of the record an event touched, as the trail's `table_affected`. */
export const TABLE_SYSTEM = "urn:ehr-audit-trail:table";

export const EXTENSION = {
  seq: "urn:ehr-audit-trail:seq",
  signature: "urn:ehr-audit-trail:signature",
  keyId: "urn:ehr-audit-trail:key-id",
} as const;
export const TRAIL_EXTENSIONS: readonly string[] = Object.values(EXTENSION);

export const SYSTEM = {
  eventType: "http://terminology.hl7.org/CodeSystem/audit-event-type",
  dcm: "http://dicom.nema.org/resources/ontology/DCM",
  restful: "http://hl7.org/fhir/restful-interaction",
  entityType: "http://terminology.hl7.org/CodeSystem/audit-entity-type",
  objectRole: "http://terminology.hl7.org/CodeSystem/object-role",
  participation: "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
  extraRole: "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
  sourceType: "http://terminology.hl7.org/CodeSystem/security-source-type",
} as const;

const BALP = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.";
export const BALP_PROFILE = {
  read: `${BALP}PatientRead`,
  create: `${BALP}PatientCreate`,
  update: `${BALP}PatientUpdate`,
  delete: `${BALP}PatientDelete`,
  query: `${BALP}PatientQuery`,
} as const;

export type Coding = { system?: string; code?: string; display?: string };

export const CODE = {
  rest: { system: SYSTEM.eventType, code: "rest", display: "Restful Operation" },
  export: { system: SYSTEM.dcm, code: "110106", display: "Export" },
  userAuthentication: { system: SYSTEM.dcm, code: "110114", display: "User Authentication" },
  login: { system: SYSTEM.dcm, code: "110122", display: "Login" },
  logout: { system: SYSTEM.dcm, code: "110123", display: "Logout" },
  sourceRole: { system: SYSTEM.dcm, code: "110153", display: "Source Role ID" },
  destinationRole: { system: SYSTEM.dcm, code: "110152", display: "Destination Role ID" },
  recipient: { system: SYSTEM.participation, code: "IRCP", display: "information recipient" },
  person: { system: SYSTEM.entityType, code: "1", display: "Person" },
  systemObject: { system: SYSTEM.entityType, code: "2", display: "System Object" },
  patientRole: { system: SYSTEM.objectRole, code: "1", display: "Patient" },
  domainResource: { system: SYSTEM.objectRole, code: "4", display: "Domain Resource" },
  queryRole: { system: SYSTEM.objectRole, code: "24", display: "Query" },
  applicationServer: { system: SYSTEM.sourceType, code: "4", display: "Application Server" },
} as const satisfies Record<string, Coding>;

export const hasCode = (c: Coding | undefined, expected: Coding) =>
  c?.system === expected.system && c?.code === expected.code;
