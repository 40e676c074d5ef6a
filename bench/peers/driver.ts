// What every system in the peer benchmark offers the workloads: queues, producers that resolve
// only once the system says a message is durable, and consumers that ack. Bodies are 1 KiB and
// carry the send time and a unique id, so the workloads measure end-to-end latency and check
// that every published message was consumed exactly once.

import type { MetricsSnapshot } from './profile';

export const BODY_BYTES = 1024;

export interface Producer {
  /** Publishes the bodies (in order, `key` for systems that partition) and resolves once all are durable. */
  publish(bodies: Buffer[], key: string): Promise<void>;
  close(): Promise<void>;
}

export interface Consumption {
  /** Stops consuming (acks already made stay made). */
  stop(): Promise<void>;
}

export interface Driver {
  /** e.g. "Herald (SDK)"; also the key in the JSON results. */
  readonly name: string;
  readonly id: string;
  /** The processes that are this system (server side), for CPU and RSS. */
  serverProcesses(): Record<string, number[]>;
  /** Makes an empty queue / topic / stream named `queue`. */
  createQueue(queue: string): Promise<void>;
  /** Removes it again (frees the peer's disk and memory between workloads). */
  deleteQueue(queue: string): Promise<void>;
  /** One producer of `count` concurrent ones (systems differ in what they share between them). */
  producer(queue: string, index: number): Promise<Producer>;
  /**
   * Consumes `queue`, acking every message after calling onMessage with its body and, where the
   * system says, when it stored the message (wall clock, ms; Herald: the commit's start).
   */
  consume(queue: string, onMessage: (body: Buffer, storedAtMs?: number) => void): Promise<Consumption>;
  close(): Promise<void>;
  /** Publish calls made so far, where a client batches on its own (the Herald SDK). */
  publishCalls?(): number;
  /** The server's own figures (Herald: event loop, GC, time per step), read before and after a run. */
  profile?(): Promise<MetricsSnapshot>;
}

/** A 1 KiB body: [0, 8) send time (performance.now()), [8, 12) producer, [12, 16) sequence. */
export function makeBody(producer: number, seq: number): Buffer {
  const b = Buffer.alloc(BODY_BYTES, 'x');
  b.writeDoubleLE(performance.now(), 0);
  b.writeUInt32LE(producer, 8);
  b.writeUInt32LE(seq, 12);
  return b;
}

export function sentAt(body: Uint8Array): number {
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength).readDoubleLE(0);
}

/** Who made a body (makeBody's producer and seq). */
export function bodyOrigin(body: Uint8Array): { producer: number; seq: number } {
  const b = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  return { producer: b.readUInt32LE(8), seq: b.readUInt32LE(12) };
}

function bodyId(body: Uint8Array): number {
  const { producer, seq } = bodyOrigin(body);
  return producer * 2 ** 32 + seq;
}

/** Counts what was published (acked as durable) and what was consumed, by body id. */
export class Ledger {
  private readonly published = new Set<number>();
  private readonly seen = new Set<number>();
  duplicates = 0;
  /** Consumed but never acknowledged to its producer (a publish that failed, or an unknown body). */
  unexpected = 0;

  publishedOk(bodies: Buffer[]): void {
    for (const b of bodies) this.published.add(bodyId(b));
  }

  consumed(body: Uint8Array): void {
    const id = bodyId(body);
    if (this.seen.has(id)) this.duplicates++;
    else this.seen.add(id);
  }

  get publishedCount(): number {
    return this.published.size;
  }

  get consumedCount(): number {
    return this.seen.size;
  }

  /** Published messages not consumed (yet). */
  missing(): number {
    let n = 0;
    for (const id of this.published) if (!this.seen.has(id)) n++;
    return n;
  }

  check(): { published: number; consumed: number; missing: number; duplicates: number; unexpected: number } {
    let unexpected = 0;
    for (const id of this.seen) if (!this.published.has(id)) unexpected++;
    this.unexpected = unexpected;
    return {
      published: this.publishedCount,
      consumed: this.consumedCount,
      missing: this.missing(),
      duplicates: this.duplicates,
      unexpected,
    };
  }
}
