/**
 * A progress bar on stderr: redrawn in place on a terminal. Into a file or a pipe it writes plain
 * lines instead, no carriage returns or colours: one whenever another tenth is done, with the
 * true percentage, and always one at 100%.
 */
export function progressBar(label: string, unit = "") {
  const tty = process.stderr.isTTY;
  const suffix = unit ? ` ${unit}` : "";
  let lastTenth = -1;
  let started = Date.now();
  return {
    update(done: number, total: number) {
      const fraction = total > 0 ? Math.min(1, done / total) : 1;
      // Rounded down, so 100% means done.
      const percent = Math.floor(fraction * 100);
      if (tty) {
        const width = 30;
        const filled = Math.round(fraction * width);
        const bar = "█".repeat(filled) + "░".repeat(width - filled);
        process.stderr.write(
          `\r${label} ${bar} ${String(percent).padStart(3)}% ${done}/${total}${suffix}`,
        );
        return;
      }
      const tenth = Math.floor(percent / 10);
      if (tenth > lastTenth) {
        lastTenth = tenth;
        process.stderr.write(`${label} ${percent}% (${done}/${total}${suffix})\n`);
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
