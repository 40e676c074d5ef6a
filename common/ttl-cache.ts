// Answers cached per key until a time to live passes, with one fetch per key at a time: callers
// that ask while a fetch runs share it. An answer counts from when its fetch was sent. The SDK's
// and the brokers' caches of the meta-server's routes are built on it. Pure apart from `fetch`.
export class TtlCache<V> {
  private readonly entries = new Map<string, { value: V; sentAt: number }>();
  private readonly fetching = new Map<string, Promise<V>>();

  constructor(
    private readonly fetch: (key: string) => Promise<V>,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The cached answer, however old. */
  peek(key: string): V | undefined {
    return this.entries.get(key)?.value;
  }

  /** The cached answer while fresh; undefined when it must be fetched. */
  fresh(key: string): V | undefined {
    const known = this.entries.get(key);
    return known && this.now() - known.sentAt < this.ttlMs ? known.value : undefined;
  }

  /** The cached answer while fresh, else a new one. */
  get(key: string): Promise<V> {
    const known = this.fresh(key);
    return known === undefined ? this.refresh(key) : Promise.resolve(known);
  }

  /** Fetches now, unless a fetch of the key is already running. */
  refresh(key: string): Promise<V> {
    let running = this.fetching.get(key);
    if (!running) {
      const sentAt = this.now();
      running = this.fetch(key)
        .then((value) => {
          this.entries.set(key, { value, sentAt });
          return value;
        })
        .finally(() => this.fetching.delete(key));
      this.fetching.set(key, running);
    }
    return running;
  }

  delete(key: string): void {
    this.entries.delete(key);
  }
}
