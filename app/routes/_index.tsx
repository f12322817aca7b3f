import { redirect, type LoaderFunctionArgs } from "@remix-run/node";
import { getOptionalUser, isIntegrityError } from "~/auth.server";

export async function loader({ request, context }: LoaderFunctionArgs) {
  try {
    const found = await getOptionalUser(context.app, request);
    return redirect(found ? "/home" : "/login");
  } catch (error) {
    // /home explains an account or session that fails its integrity check.
    if (isIntegrityError(error)) return redirect("/home");
    throw error;
  }
}
