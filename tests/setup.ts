import { afterEach, beforeEach, vi } from "vitest";

// An unexpected console.error is a failure: tests that expect one spy on it themselves.
let errorSpy: ReturnType<typeof vi.spyOn>;
beforeEach(() => {
  errorSpy = vi.spyOn(console, "error");
});
afterEach(() => {
  const calls = errorSpy.mock.calls;
  errorSpy.mockRestore();
  if (calls.length > 0) {
    throw new Error(
      `console.error was called: ${calls.map((c: unknown[]) => c.join(" ")).join("\n")}`,
    );
  }
});
