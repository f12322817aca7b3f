// Group commit: callers that arrive while a commit is running wait for the next one, which takes
// all of them together. Each caller's promise settles only when its own items are committed, so
// what a caller was told is stored is durable; many callers share one transaction and one
// checkpoint instead of paying for one each (docs/decisions/008).
//
// The commits are pipelined: while one group commits, the next is taken as soon as callers
// queue and prepared (for appends: sealed and signed) against the state the running commit will
// leave, so the signing threads never wait for the writer. Commits themselves stay one at a time.

type Job<T, R> = {
  items: readonly T[];
  group: unknown;
  /** What the caller says about its items (who triggered them, say), handed to the commit. */
  note: unknown;
  resolve: (done: { result: R; offset: number }) => void;
  reject: (error: unknown) => void;
};

/** A group taken from the queue, with what was prepared for it. */
type Taken<T, R, P> = { jobs: Job<T, R>[]; prepared: P | null };

export class GroupCommit<T, R, P = never> {
  private readonly queue: Job<T, R>[] = [];
  private running = false;
  /** Wakes the drain when a caller queues while a commit runs and no next group is taken. */
  private wake: (() => void) | null = null;

  /**
   * @param commit stores the items of several callers at once, all or nothing, given what was
   *   prepared for them (which it must check still holds)
   * @param maxItems a group stops growing past this many items (one caller may exceed it alone)
   * @param prepare work for a group that may start before the commit ahead of it has ended:
   *   `after` is what was prepared for that commit, null when none is running
   */
  constructor(
    private readonly commit: (
      items: T[],
      group: unknown,
      notes: unknown[],
      prepared: P | null,
    ) => Promise<R>,
    private readonly maxItems: number,
    private readonly prepare?: (items: T[], group: unknown, after: P | null) => P,
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
      else this.wake?.();
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

  private take(after: P | null): Taken<T, R, P> {
    const jobs = this.takeGroup();
    const items = jobs.flatMap((j) => j.items);
    return { jobs, prepared: this.prepare ? this.prepare(items, jobs[0]!.group, after) : null };
  }

  /** Commits one group and settles its callers; never throws. */
  private async run({ jobs, prepared }: Taken<T, R, P>): Promise<void> {
    try {
      const result = await this.commit(
        jobs.flatMap((j) => j.items),
        jobs[0]!.group,
        jobs.map((j) => j.note),
        prepared,
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

  private async drain(): Promise<void> {
    this.running = true;
    try {
      let current: Taken<T, R, P> | null = this.take(null);
      while (current) {
        let ended = false;
        const committing = this.run(current).then(() => {
          ended = true;
        });
        let next: Taken<T, R, P> | null = null;
        // Until this commit ends, the first callers to queue become the next group, prepared now.
        while (!ended && !next) {
          if (this.queue.length > 0) {
            next = this.take(current.prepared);
            break;
          }
          await Promise.race([committing, new Promise<void>((wake) => (this.wake = wake))]);
          this.wake = null;
        }
        await committing;
        current = next ?? (this.queue.length > 0 ? this.take(null) : null);
      }
    } finally {
      this.running = false;
      this.wake = null;
    }
  }
}
