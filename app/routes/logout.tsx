import { redirect, type ActionFunctionArgs } from "@remix-run/node";
import { endSession } from "~/auth.server";

export async function action({ request, context }: ActionFunctionArgs) {
  return endSession(context.app, request, "/login");
}

export function loader() {
  return redirect("/");
}
