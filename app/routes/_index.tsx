import { redirect, type LoaderFunctionArgs } from "@remix-run/node";
import { AccountCompromised, getOptionalUser } from "~/auth.server";

export async function loader({ request, context }: LoaderFunctionArgs) {
  try {
    const found = await getOptionalUser(context.app, request);
    return redirect(found ? "/home" : "/login");
  } catch (error) {
    // /home explains an account that fails its integrity check.
    if (error instanceof AccountCompromised) return redirect("/home");
    throw error;
  }
}
