// Merges one-shot partition reads into multi-partition fetches, as a Kafka consumer does: Kafka
// answers one request per connection at a time, so sixteen lagging cursors that each sent a
// fetch of their own queued behind each other on the store's read connection (and under load
// the last ones ran into the request timeout). Reads wait per Kafka leader; a fetch takes what
// waits, one read per partition (a partition's second read goes in a later fetch), up to
// `maxPartitions`, and at most `maxInFlight` fetches per leader are outstanding at once. No I/O
// here: `send` does the fetch.

/** A read of one partition, waiting for a place in a fetch to its leader. */
export interface FetchWant {
  leader: string;
  /** The partition: two wants with one key never share a fetch. */
  key: string;
}

/** One want's answer in a fetch: its result, or the error that is its alone. */
export type FetchAnswer<R> = { ok: true; value: R } | { ok: false; error: unknown };

export interface FetchBatcherOptions {
  /** Fetches outstanding per leader (more than one pipelines decoding with Kafka's work). */
  maxInFlight: number;
  /** Partitions in one fetch. */
  maxPartitions: number;
}

interface Waiting<W, R> {
  want: W;
  resolve(value: R): void;
  reject(error: unknown): void;
}

export class FetchBatcher<W extends FetchWant, R> {
  private readonly waiting = new Map<string, Waiting<W, R>[]>();
  private readonly inFlight = new Map<string, number>();

  /**
   * `send` fetches the wants (distinct keys, one leader) and answers each, in order; when it
   * throws, every want of that fetch fails with its error.
   */
  constructor(
    private readonly send: (leader: string, wants: W[]) => Promise<FetchAnswer<R>[]>,
    private readonly options: FetchBatcherOptions,
  ) {
    if (!(options.maxInFlight >= 1)) throw new Error('maxInFlight must be at least 1');
    if (!(options.maxPartitions >= 1)) throw new Error('maxPartitions must be at least 1');
  }

  request(want: W): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const queue = this.waiting.get(want.leader) ?? [];
      queue.push({ want, resolve, reject });
      this.waiting.set(want.leader, queue);
      this.pump(want.leader);
    });
  }

  /** Fetches outstanding to `leader` now. */
  outstanding(leader: string): number {
    return this.inFlight.get(leader) ?? 0;
  }

  private pump(leader: string): void {
    while (this.outstanding(leader) < this.options.maxInFlight) {
      const batch = this.take(leader);
      if (batch.length === 0) return;
      this.inFlight.set(leader, this.outstanding(leader) + 1);
      void this.run(leader, batch);
    }
  }

  /** The oldest waiting read of each partition, up to maxPartitions, in arrival order. */
  private take(leader: string): Waiting<W, R>[] {
    const queue = this.waiting.get(leader);
    if (!queue) return [];
    const taken: Waiting<W, R>[] = [];
    const keys = new Set<string>();
    const rest: Waiting<W, R>[] = [];
    for (const w of queue) {
      if (taken.length < this.options.maxPartitions && !keys.has(w.want.key)) {
        keys.add(w.want.key);
        taken.push(w);
      } else rest.push(w);
    }
    if (rest.length === 0) this.waiting.delete(leader);
    else this.waiting.set(leader, rest);
    return taken;
  }

  private async run(leader: string, batch: Waiting<W, R>[]): Promise<void> {
    try {
      const answers = await this.send(
        leader,
        batch.map((w) => w.want),
      );
      batch.forEach((w, i) => {
        const a = answers[i];
        if (a === undefined) w.reject(new Error(`fetch gave no answer for ${w.want.key}`));
        else if (a.ok) w.resolve(a.value);
        else w.reject(a.error);
      });
    } catch (err) {
      for (const w of batch) w.reject(err);
    } finally {
      const left = this.outstanding(leader) - 1;
      if (left === 0) this.inFlight.delete(leader);
      else this.inFlight.set(leader, left);
      this.pump(leader);
    }
  }
}
