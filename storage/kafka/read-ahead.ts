// What a one-shot fetch brought beyond what its read asked for. A fetch returns up to
// fetchMaxBytes of a partition (about 1,000 records of 1 KiB) while a lagging cursor asks for
// prefetchMessages (500): without this the next read fetched and decoded the same records again.
// The next read of the partition from where the last one stopped is served from here (one entry
// per partition and position, so groups reading one partition at different places do not
// evict each other). Kept bytes are bounded for all partitions together (the oldest entries give
// way first); an entry is handed out once.
import { messageSize } from '../../common/message-size';
import type { StoredMessage } from '../storage';

export interface AheadChunk {
  /** Messages with offsets from the read's start on, in offset order (control records left out). */
  messages: StoredMessage[];
  /** The last offset the fetch covered (a control record, or a message of `messages`). */
  coveredTo: number;
  /** The partition's last offset when the fetch ran. */
  end: number;
}

interface Entry extends AheadChunk {
  key: string;
  bytes: number;
}

/** Per message kept, beyond its size: offsets, timestamps and the object itself, roughly. */
const ENTRY_OVERHEAD_BYTES = 64;

/** A stored message's share of the budget: its size as Herald limits it, plus the overhead. */
export function messageBytes(m: StoredMessage): number {
  return ENTRY_OVERHEAD_BYTES + messageSize(m);
}

export class ReadAhead {
  private readonly entries = new Map<string, Entry>();
  private total = 0;

  constructor(private readonly maxBytes: number) {}

  /** Bytes held now (all partitions). */
  get bytes(): number {
    return this.total;
  }

  /** Keeps what a read of partition `key` left over, for a read from `from` on. */
  keep(key: string, from: number, chunk: AheadChunk): void {
    const at = position(key, from);
    this.drop(at);
    if (chunk.messages.length === 0) return;
    const bytes = chunk.messages.reduce((n, m) => n + messageBytes(m), 0);
    if (bytes > this.maxBytes) return;
    for (const k of this.entries.keys()) {
      if (this.total + bytes <= this.maxBytes) break;
      this.drop(k);
    }
    this.entries.set(at, { ...chunk, key, bytes });
    this.total += bytes;
  }

  /** What was kept for a read of partition `key` from `from` on, handed out once. */
  take(key: string, from: number): AheadChunk | undefined {
    const at = position(key, from);
    const e = this.entries.get(at);
    if (!e) return undefined;
    this.drop(at);
    return { messages: e.messages, coveredTo: e.coveredTo, end: e.end };
  }

  /** Forgets the entries of the partitions whose key `matches` (a dropped topic). */
  dropWhere(matches: (key: string) => boolean): void {
    for (const [at, e] of [...this.entries]) if (matches(e.key)) this.drop(at);
  }

  private drop(at: string): void {
    const e = this.entries.get(at);
    if (!e) return;
    this.entries.delete(at);
    this.total -= e.bytes;
  }
}

function position(key: string, from: number): string {
  return `${key}@${from}`;
}
