// The leaf hash of every record the server has verified or appended, by position, kept in its
// memory (32 bytes a record). A row read for a view is checked against it: its bytes must hash
// to the leaf the verified tree holds at its seq. No file, and no stolen key, reaches it.

export class LeafHashes {
  private bytes: Buffer;
  private count = 0;

  constructor(capacity = 1024) {
    this.bytes = Buffer.alloc(capacity * 32);
  }

  get size(): number {
    return this.count;
  }

  /** Appends hashes, 32 bytes each, in order. */
  append(hashes: Uint8Array): void {
    const needed = this.count * 32 + hashes.length;
    if (needed > this.bytes.length) {
      const grown = Buffer.alloc(Math.max(needed, this.bytes.length * 2));
      this.bytes.copy(grown, 0, 0, this.count * 32);
      this.bytes = grown;
    }
    this.bytes.set(hashes, this.count * 32);
    this.count += hashes.length / 32;
  }

  /** The leaf hash at 0-based `index`, or null past the end. */
  at(index: number): Buffer | null {
    if (index < 0 || index >= this.count) return null;
    return this.bytes.subarray(index * 32, index * 32 + 32);
  }

  /** A copy of the first `count` hashes, to be extended on its own. */
  prefix(count: number): LeafHashes {
    const copy = new LeafHashes(Math.max(count, 1024));
    copy.append(this.bytes.subarray(0, Math.min(count, this.count) * 32));
    return copy;
  }
}
