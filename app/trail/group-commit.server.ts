// Group commit: callers that arrive while a commit is running wait for the next one, which takes
// all of them together. Each caller's promise settles only when its own items are committed, so
// what a caller was told is stored is durable; many callers share one transaction and one
// checkpoint instead of paying for one each (docs/decisions/008).

type Job<T, R> = {
  items: readonly T[];
  group: unknown;
  /** What the caller says about its items (who triggered them, say), handed to the commit. */
  note: unknown;
  resolve: (done: { result: R; offset: number }) => void;
  reject: (error: unknown) => void;
};

export class GroupCommit<T, R> {
  private readonly queue: Job<T, R>[] = [];
  private running = false;

  /**
   * @param commit stores the items of several callers at once, all or nothing
   * @param maxItems a group stops growing past this many items (one caller may exceed it alone)
   */
  constructor(
    private readonly commit: (items: T[], group: unknown, notes: unknown[]) => Promise<R>,
    private readonly maxItems: number,
  ) {}

  /**
   * Queues `items` and resolves with the commit's result and where they start in it. Only
   * callers with the same `group` share a commit.
   */
  submit(
    items: readonly T[],
    group: unknown,
    note: unknown = null,
  ): Promise<{ result: R; offset: number }> {
    return new Promise((resolve, reject) => {
      this.queue.push({ items, group, note, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private takeGroup(): Job<T, R>[] {
    const first = this.queue.shift()!;
    const taken = [first];
    let count = first.items.length;
    for (let i = 0; i < this.queue.length;) {
      const job = this.queue[i]!;
      if (job.group !== first.group || count + job.items.length > this.maxItems) {
        i++;
        continue;
      }
      taken.push(job);
      count += job.items.length;
      this.queue.splice(i, 1);
    }
    return taken;
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const jobs = this.takeGroup();
        try {
          const result = await this.commit(
            jobs.flatMap((j) => j.items),
            jobs[0]!.group,
            jobs.map((j) => j.note),
          );
          let offset = 0;
          for (const job of jobs) {
            job.resolve({ result, offset });
            offset += job.items.length;
          }
        } catch (error) {
          for (const job of jobs) job.reject(error);
        }
      }
    } finally {
      this.running = false;
    }
  }
}
