import { data, redirect, type ActionFunctionArgs, type MetaFunction } from "@remix-run/node";
import { Link, useActionData } from "@remix-run/react";
import { PASSWORD_MAX, PASSWORD_MIN } from "~/auth/password-policy";
import { Field } from "~/components/field";
import { OpaqueForm } from "~/components/opaque-form";
import { NEEDS_SCRIPT, registerUser } from "~/services/registration.server";

export const meta: MetaFunction = () => [{ title: "Register · EHR Audit Trail" }];

export async function action({ request, context }: ActionFunctionArgs) {
  const form = Object.fromEntries(await request.formData());
  const result = await registerUser(context.app, form);
  if (result.ok) return redirect("/login?registered=1");
  // No password arrives here (decision record 017), and the code is never sent back.
  const values = {
    name: typeof form.name === "string" ? form.name : "",
    username: typeof form.username === "string" ? form.username : "",
    userType: form.userType === "auditor" ? "auditor" : "patient",
  };
  return data({ errors: result.errors, values }, { status: 400 });
}

export default function Register() {
  const actionData = useActionData<typeof action>();
  const errors = actionData?.errors ?? {};
  const values = actionData?.values;
  return (
    <section className="card narrow" aria-labelledby="register-title">
      <h1 id="register-title">Create an account</h1>
      <p className="hint">
        You need the invitation code you were given: patients get one from their care provider,
        audit companies from the operator.
      </p>
      {errors.form ? (
        <p role="alert" className="alert alert-error">
          {errors.form}
        </p>
      ) : null}
      <noscript>
        <p className="alert alert-error">{NEEDS_SCRIPT}</p>
      </noscript>
      <OpaqueForm kind="register" action="/register">
        <fieldset className="field">
          <legend>User type</legend>
          <label className="choice">
            <input
              type="radio"
              name="userType"
              value="patient"
              defaultChecked={values?.userType !== "auditor"}
            />
            Patient
          </label>
          <label className="choice">
            <input
              type="radio"
              name="userType"
              value="auditor"
              defaultChecked={values?.userType === "auditor"}
            />
            Audit company
          </label>
          {errors.userType ? <p className="error">{errors.userType}</p> : null}
        </fieldset>
        <Field
          name="code"
          label="Invitation code"
          autoComplete="off"
          spellCheck={false}
          error={errors.code}
        />
        <Field
          name="name"
          label="Full name"
          autoComplete="name"
          defaultValue={values?.name}
          error={errors.name}
        />
        <Field
          name="username"
          label="Username"
          autoComplete="username"
          defaultValue={values?.username}
          error={errors.username}
        />
        <Field
          name="password"
          label="Password"
          type="password"
          autoComplete="new-password"
          sent={false}
          hint={`${PASSWORD_MIN} to ${PASSWORD_MAX} characters. A long passphrase is best.`}
          error={errors.password}
        />
        <Field
          name="confirmPassword"
          label="Confirm password"
          type="password"
          autoComplete="new-password"
          sent={false}
          error={errors.confirmPassword}
        />
        <button type="submit" data-busy-label="Creating account…">
          Create account
        </button>
      </OpaqueForm>
      <p>
        Already registered? <Link to="/login">Log in</Link>
      </p>
    </section>
  );
}
