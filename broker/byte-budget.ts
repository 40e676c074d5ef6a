// Bytes a broker holds on one path, all its calls together, against a limit: the count, the
// gauge told of every change, and the waiters woken when bytes are released. What may be taken
// while over the limit is each path's own rule (PublishBudget, SendBudget). Pure.

export class ByteBudget {
  private held = 0;
  private readonly waiters = new Set<{ ready: () => boolean; then: () => void }>();

  constructor(
    readonly limit: number,
    /** Told the bytes held after every change (the path's gauge). */
    private readonly changed: (bytes: number) => void = () => undefined,
  ) {}

  get bytes(): number {
    return this.held;
  }

  take(bytes: number): void {
    this.held += bytes;
    this.changed(this.held);
  }

  release(bytes: number): void {
    this.held -= bytes;
    this.changed(this.held);
    // Readiness is decided for all waiters before any is called: each waiter ready at this
    // release is woken, whatever an earlier one takes (it re-checks before its next take).
    const woken = [...this.waiters].filter((w) => w.ready());
    for (const w of woken) this.waiters.delete(w);
    for (const w of woken) w.then();
  }

  /** Calls `then` once, at the first release after which `ready()` holds; returns what cancels it. */
  protected afterRelease(ready: () => boolean, then: () => void): () => void {
    const waiter = { ready, then };
    this.waiters.add(waiter);
    return () => this.waiters.delete(waiter);
  }
}
