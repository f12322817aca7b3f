/**
 * Runs `round` after `firstMs`, then `everyMs` after each round ends, until stopped; the timer
 * keeps no process alive. A round that throws is reported by `onError` and tried again at the
 * next. The returned function stops it, and resolves once a round under way has finished.
 */
export function repeatRounds(
  round: () => Promise<unknown>,
  timing: { firstMs?: number; everyMs: number },
  onError: (error: Error) => void,
): () => Promise<void> {
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  let current: Promise<void> = Promise.resolve();
  const tick = async () => {
    try {
      await round();
    } catch (error) {
      onError(error as Error);
    }
    if (!stopped) schedule(timing.everyMs);
  };
  const schedule = (ms: number) => {
    timer = setTimeout(() => (current = tick()), ms);
    timer.unref();
  };
  schedule(timing.firstMs ?? timing.everyMs);
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    return current;
  };
}
