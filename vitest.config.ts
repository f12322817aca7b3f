import path from "node:path";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { alias: { "~": path.resolve(import.meta.dirname, "app") } },
  test: {
    include: [
      "app/**/*.test.ts",
      "db/**/*.test.ts",
      "cli/**/*.test.ts",
      "tests/**/*.test.ts",
      "witness/**/*.test.ts",
    ],
    exclude: ["e2e/**", "node_modules/**"],
    setupFiles: ["./tests/setup.ts"],
    environment: "node",
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
