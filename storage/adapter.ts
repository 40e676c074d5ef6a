// What an adapter opens: its message store and the pool stores beside it, over one
// connection (MySQL) or one process's memory. openStorage (index.ts) turns it into a pool's
// Storage; the conformance suite tests it.
import type { DelayStore } from './delay-store';
import type { RetryStore } from './retry-store';
import type { MessageStore } from './storage';
import type { TraceStore } from './trace-store';

export interface AdapterStores {
  messages: MessageStore;
  retries: RetryStore;
  delays: DelayStore;
  traces: TraceStore;
  /** Resolves when the stores answer; throws STORAGE_UNAVAILABLE otherwise. */
  ping(): Promise<void>;
  /** Closes every store (once). */
  close(): Promise<void>;
}
