// One real server (startServer) in its own process, so the load generator does not share its
// event loop. Sends its URL over IPC; stops on "stop", or when the benchmark goes away.
import { loadConfig } from "../app/config.server";
import { startServer } from "../server/http";

const running = await startServer(
  loadConfig({ ...process.env, HOST: "127.0.0.1", PORT: "0", COOKIE_SECURE: "false" }),
);
const address = running.server.address();
const port = typeof address === "object" && address ? address.port : 0;
let stopping: Promise<void> | null = null;
const stop = () => {
  stopping ??= running.close().then(() => process.exit(0));
  return stopping;
};
process.on("message", (message) => {
  if (message === "stop") void stop();
});
process.on("disconnect", () => void stop());
process.send!({ url: `http://127.0.0.1:${port}` });
