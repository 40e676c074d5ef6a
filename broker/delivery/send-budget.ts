// The bytes of deliveries handed to subscription transports and not yet flushed by them, all
// streams of a broker together (delivery.maxUnsentBytes). grpc-js buffers up to 16 responses
// per stream before `write` says stop, and a consumer's credits let that be thousands of
// messages: a mid-drain heap snapshot found most of the broker's live Buffers there. Over the
// budget, a stream takes nothing more until its own or others' writes flush; a stream with
// nothing unsent may always write, so a stalled reader holding the budget slows the others
// but cannot stop them. Pure; unit-tested.

export class SendBudget {
  private used = 0;
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly maxBytes: number,
    /** Told the total after every change (the herald_delivery_unsent_bytes gauge). */
    private readonly changed: (bytes: number) => void = () => undefined,
  ) {}

  get bytes(): number {
    return this.used;
  }

  /** Bytes handed to a transport. */
  charge(bytes: number): void {
    this.used += bytes;
    this.changed(this.used);
  }

  /** Bytes the transport flushed (or dropped with its call). */
  release(bytes: number): void {
    this.used -= bytes;
    this.changed(this.used);
    // Also over the budget: the releasing stream may now have nothing unsent.
    for (const w of [...this.waiters]) w();
  }

  /** Whether a stream with `own` bytes unsent may write more now. */
  allows(own: number): boolean {
    return own === 0 || this.used < this.maxBytes;
  }

  /** Resolves once `allows(own())` holds (checked at every release), or when `abort` fires. */
  room(own: () => number, abort: AbortSignal): Promise<void> {
    if (this.allows(own()) || abort.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.waiters.delete(check);
        abort.removeEventListener('abort', done);
        resolve();
      };
      const check = () => {
        if (this.allows(own())) done();
      };
      this.waiters.add(check);
      abort.addEventListener('abort', done, { once: true });
    });
  }
}
