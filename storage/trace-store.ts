// Message traces and the command log.
//
// Trace events are written asynchronously in batches (broker/trace), never on the publish or
// delivery path's critical section, and are bounded by age.
//
// The command log carries changes that a partition's owner must apply, made by whichever
// broker served the Admin call: offset resets and dead-letter replays. Every broker reads new
// commands every second (one indexed range read), so an owner applies them within a second.
import type { PartitionRef, TraceEvent } from './storage';

export type { TraceEvent };

export type TraceQuery = { messageId: string } | { topic: string; refKey: string };

export type Command =
  | { kind: 'reset'; group: string; ref: PartitionRef; offset: number }
  | { kind: 'resend-wakeup'; group: string; ref: PartitionRef };

export interface TraceStore {
  appendTrace(events: TraceEvent[]): Promise<void>;
  /** Oldest first. */
  trace(query: TraceQuery, limit: number): Promise<TraceEvent[]>;
  /** Deletes events older than `before`; returns how many. */
  expireTrace(before: number): Promise<number>;

  /** Appends commands; returns the id of the last. */
  appendCommands(commands: Command[]): Promise<number>;
  /** Commands with id > afterId, oldest first, and the highest id returned. */
  commandsAfter(afterId: number, limit: number): Promise<{ id: number; command: Command }[]>;
  /** The newest command id (a starting broker ignores what came before). */
  lastCommandId(): Promise<number>;
  /** Deletes commands older than `before`. */
  expireCommands(before: number): Promise<number>;
}
