import { Strategy } from "remix-auth/strategy";

/**
 * The last step of a login, as the login page posts it: the OPAQUE finish message for the login
 * its first message started, or, for an account moving off argon2, the OPAQUE record made after
 * its password was checked. Neither carries the password.
 */
export type OpaqueFinish =
  | { kind: "login"; username: string; loginId: string; finishLoginRequest: string }
  | { kind: "upgrade"; username: string; upgradeId: string; registrationRecord: string };

/** remix-auth strategy for the OPAQUE finish step: it reads the form, `verify` decides. */
export class OpaqueStrategy<User> extends Strategy<User, OpaqueFinish> {
  name = "opaque";

  async authenticate(request: Request): Promise<User> {
    const form = await request.clone().formData();
    const field = (name: string) => {
      const value = form.get(name);
      return typeof value === "string" ? value : "";
    };
    const username = field("username");
    const upgradeId = field("upgradeId");
    return this.verify(
      upgradeId
        ? { kind: "upgrade", username, upgradeId, registrationRecord: field("registrationRecord") }
        : {
            kind: "login",
            username,
            loginId: field("loginId"),
            finishLoginRequest: field("finishLoginRequest"),
          },
    );
  }
}
