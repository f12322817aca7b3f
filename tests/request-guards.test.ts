import http from "node:http";
import type { AddressInfo } from "node:net";
import { createReadableStreamFromReadable } from "@remix-run/node";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requestGuards } from "../server/request-guards";

const FORM = "application/x-www-form-urlencoded";

/** After the guard, reads the form the way the Remix adapter does and echoes it. */
function app(trustProxy: boolean) {
  const a = express();
  if (trustProxy) a.set("trust proxy", true);
  a.use(requestGuards());
  a.all("*", async (req, res) => {
    const hasBody = req.method !== "GET" && req.method !== "HEAD";
    const request = new Request("http://app.test/", {
      method: req.method,
      headers: req.headers as Record<string, string>,
      ...(hasBody ? { body: createReadableStreamFromReadable(req), duplex: "half" } : {}),
    } as RequestInit);
    const isForm = /form/.test(req.get("Content-Type") ?? "");
    res.json(isForm ? Object.fromEntries(await request.formData()) : await request.text());
  });
  return a;
}

const servers: http.Server[] = [];
const ports: Record<"plain" | "proxied", number> = { plain: 0, proxied: 0 };
beforeAll(async () => {
  for (const name of ["plain", "proxied"] as const) {
    const server = app(name === "proxied").listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    servers.push(server);
    ports[name] = (server.address() as AddressInfo).port;
  }
});
afterAll(() => {
  for (const s of servers) s.close();
});

type Sent = { method?: string; path?: string; headers: Record<string, string>; body?: string[] };

/** Sends the body as the given chunks (chunked transfer unless Content-Length is set). */
function send(
  server: keyof typeof ports,
  { method = "POST", path = "/login", headers, body = [] }: Sent,
) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: ports[server], method, path, headers });
    req.on("error", reject);
    req.on("response", (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode!, body: text }));
    });
    for (const chunk of body) req.write(chunk);
    req.end();
  });
}

describe("the origin check", () => {
  const form = (headers: Record<string, string>): Sent => ({
    headers: { Host: "app.test", "Content-Type": FORM, "Content-Length": "3", ...headers },
    body: ["a=1"],
  });

  it.each([
    ["an Origin equal to ours", { Origin: "http://app.test" }],
    ["no Origin, Sec-Fetch-Site same-origin", { "Sec-Fetch-Site": "same-origin" }],
    ["no Origin or Sec-Fetch-Site, our Referer", { Referer: "http://app.test/login" }],
  ])("passes %s", async (_what, headers) => {
    expect(await send("plain", form(headers))).toEqual({ status: 200, body: '{"a":"1"}' });
  });

  it.each([
    ["another host", { Origin: "http://evil.test" }],
    ["another port", { Origin: "http://app.test:8080" }],
    ["https for http", { Origin: "https://app.test" }],
    ["an opaque origin", { Origin: "null" }],
    [
      "a matching Referer beside a foreign Origin",
      { Origin: "http://evil.test", Referer: "http://app.test/" },
    ],
    ["Sec-Fetch-Site same-site", { "Sec-Fetch-Site": "same-site" }],
    ["no browser header at all", {}],
  ])("refuses %s", async (_what, headers) => {
    expect((await send("plain", form(headers))).status).toBe(403);
  });

  it("counts X-Forwarded-Host and -Proto only behind a trusted proxy", async () => {
    const forwarded = form({
      Origin: "https://public.test",
      "X-Forwarded-Host": "public.test",
      "X-Forwarded-Proto": "https",
    });
    expect((await send("plain", forwarded)).status).toBe(403);
    expect((await send("proxied", forwarded)).status).toBe(200);
  });

  it("leaves the bearer-token API alone, but not a path that only looks like it", async () => {
    const json = { "Content-Type": "application/json", Host: "app.test" };
    expect(await send("plain", { path: "/api/audit-events", headers: json })).toEqual({
      status: 200,
      body: '""',
    });
    expect((await send("plain", { path: "/api/../login", headers: json })).status).toBe(403);
    expect((await send("plain", { method: "GET", path: "/login", headers: {} })).status).toBe(200);
  });
});

describe("the form body", () => {
  const own = { Host: "app.test", Origin: "http://app.test" };

  it("hands a form sent in pieces on to the route intact", async () => {
    const r = await send("plain", {
      headers: { ...own, "Content-Type": FORM },
      body: ["username=al", "ice&pass", "word=x%20y"],
    });
    expect(r).toEqual({ status: 200, body: '{"username":"alice","password":"x y"}' });
  });

  it.each([
    ["Content-Length: 0", { "Content-Length": "0" }],
    ["an empty chunked body", {}],
  ])("passes an empty form with %s", async (_what, headers) => {
    const r = await send("plain", { headers: { ...own, "Content-Type": FORM, ...headers } });
    expect(r).toEqual({ status: 200, body: "{}" });
  });

  it.each([
    ["JSON", "application/json", ['{"a":1}'], 415],
    ["no content type", undefined, ["a=1"], 415],
    ["an empty multipart body", "multipart/form-data; boundary=x", [], 400],
    ["a broken multipart body", "multipart/form-data; boundary=x", ["--x\r\nnonsense"], 400],
    ["a chunked form over 64 KiB", FORM, Array.from({ length: 80 }, () => "a".repeat(1024)), 413],
  ])("refuses %s", async (_what, type, body, status) => {
    const headers: Record<string, string> = { ...own, ...(type ? { "Content-Type": type } : {}) };
    const r = await send("plain", { headers, body });
    expect(r.status).toBe(status);
    expect(r.body).toMatch(/^<!doctype html>/);
  });

  it("refuses a declared length over 64 KiB before reading the body", async () => {
    const headers = { ...own, "Content-Type": FORM, "Content-Length": String(65 * 1024 + 1) };
    const r = await send("plain", { headers, body: ["a".repeat(65 * 1024 + 1)] });
    expect(r.status).toBe(413);
    expect(r.body).toContain("at most 64 KiB");
  });
});

describe("the request target", () => {
  it.each([
    ["an absolute-form target", "GET", "http://127.0.0.1/login", {}],
    ["an absolute-form form post", "POST", "http://127.0.0.1/login", { "Content-Type": FORM }],
    ["the asterisk target", "GET", "*", {}],
    ["a Host with a space", "GET", "/login", { Host: "a b" }],
    ["a Host with an unclosed bracket", "GET", "/login", { Host: "[::1" }],
    ["a Host with a port out of range", "POST", "/login", { Host: "127.0.0.1:99999" }],
  ])("%s gets 400, not a server error", async (_, method, path, headers) => {
    const answer = await send("plain", { method, path, headers, body: [] });
    expect(answer.status).toBe(400);
    expect(answer.body).toContain("not a valid address");
  });

  it("an ordinary target passes", async () => {
    expect((await send("plain", { method: "GET", path: "/login", headers: {} })).status).toBe(200);
  });
});
