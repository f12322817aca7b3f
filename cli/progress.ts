/** A progress bar on stderr: redrawn in place on a terminal, a line per tenth otherwise. */
export function progressBar(label: string) {
  const tty = process.stderr.isTTY;
  let lastTenth = -1;
  let started = Date.now();
  return {
    update(done: number, total: number) {
      const fraction = total > 0 ? Math.min(1, done / total) : 1;
      if (tty) {
        const width = 30;
        const filled = Math.round(fraction * width);
        const bar = "█".repeat(filled) + "░".repeat(width - filled);
        process.stderr.write(
          `\r${label} ${bar} ${(fraction * 100).toFixed(0).padStart(3)}% ${done}/${total}`,
        );
      } else {
        const tenth = Math.floor(fraction * 10);
        if (tenth > lastTenth) {
          lastTenth = tenth;
          process.stderr.write(`${label} ${tenth * 10}% (${done}/${total})\n`);
        }
      }
    },
    done(summary?: string) {
      if (tty) process.stderr.write("\n");
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      if (summary) process.stderr.write(`${summary} in ${seconds} s\n`);
      started = Date.now();
    },
  };
}
