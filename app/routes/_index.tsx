import { redirect, type LoaderFunctionArgs } from "@remix-run/node";
import { getOptionalUser } from "~/auth.server";

export async function loader({ request, context }: LoaderFunctionArgs) {
  const found = await getOptionalUser(context.app, request);
  return redirect(found ? "/home" : "/login");
}
