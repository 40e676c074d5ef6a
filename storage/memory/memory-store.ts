// The in-memory adapter of every storage interface: messages, retries and dead letters,
// delayed messages, traces and commands, in plain maps of one process. Nothing is durable:
// it is for tests and for a standalone broker during SDK development (`storage: memory`).
//
// It honours the same contract as MySQL, checked by the same conformance suite: owner
// fencing (an append over a taken offset, or dispatching a delayed message twice, fails with
// PARTITION_FENCED and stores nothing), all-or-nothing appends over several partitions, two
// lanes sharing a partition's offsets, and retention by whole segments (the segment list of
// storage/segments.ts, as MySQL keeps its table partitions). Values are copied in and out,
// so a caller cannot change what is stored.
import { DEFAULTS } from '../../common/broker-options';
import { HeraldError } from '../../common/errors';
import { requireCapability } from '../capabilities';
import type { StorageCapabilities } from '../capabilities';
import type { DelayStore, DelayedMessage } from '../delay-store';
import { mergeRetryCounts } from '../retry-store';
import type {
  DeadLetter,
  DeadLetterQuery,
  NewDeadLetter,
  Resend,
  RetryCount,
  RetryStore,
} from '../retry-store';
import { droppable, initialSegments, planSplit } from '../segments';
import { broadcastConsumerOf } from '../subscription';
import type { Segment } from '../segments';
import type {
  AppendBatch,
  AppendOutcome,
  AppendRiders,
  Lane,
  MessageStore,
  NewMessage,
  OffsetCommit,
  PartitionRef,
  SegmentRetention,
  StoredMessage,
} from '../storage';
import type { Command, TraceEvent, TraceQuery, TraceStore } from '../trace-store';

/** The capabilities a test may take away, to exercise the core's refusals. */
export type ReducibleCapability = Exclude<keyof StorageCapabilities, 'ownerFencing'>;

export interface MemoryStoreOptions {
  /**
   * For tests only: declare (and enforce) fewer capabilities than the adapter has, e.g.
   * `{ priorityLanes: false }` to see the broker refuse priority messages. Owner fencing
   * cannot be taken away: the append contract has the owner allocate offsets.
   */
  capabilities?: Partial<Record<ReducibleCapability, false>>;
}

/** Everything the memory adapter stores. */
export type MemoryStores = MessageStore & RetryStore & DelayStore & TraceStore;

interface PartitionState {
  /** Offsets of both lanes, ascending. */
  offsets: number[];
  messages: Map<number, StoredMessage>;
  /** Retention segments, the last one the open tail. */
  segments: Segment[];
  delayed: Map<number, DelayedMessage>;
}

const TAIL: Segment = { name: 'tail', from: 1, to: Infinity };

/** Bounded segments, then the tail above them. */
function withTail(segments: Segment[]): Segment[] {
  return [...segments, { ...TAIL, from: (segments[segments.length - 1]?.to ?? 0) + 1 }];
}

export function createMemoryStore(options: MemoryStoreOptions = {}): MemoryStores {
  return new MemoryStore({
    priorityLanes: true,
    delayedMessages: true,
    ownerFencing: true,
    atomicMultiPartitionAppend: true,
    segmentRetention: true,
    traceInAppend: true,
    offsetsInAppend: true,
    ...options.capabilities,
  });
}

class MemoryStore implements MessageStore, RetryStore, DelayStore, TraceStore {
  readonly kind = 'memory';
  readonly segments: SegmentRetention | undefined;
  private partitions = new Map<string, PartitionState>();
  private offsets = new Map<string, number>();
  private resends = new Map<string, Map<number, Resend>>();
  private deadLetters: DeadLetter[] = [];
  private traceEvents: { id: number; event: TraceEvent }[] = [];
  private commands: { id: number; at: number; command: Command }[] = [];
  private nextId = { delayed: 1, deadLetter: 1, trace: 1, command: 1 };
  private closed = false;

  constructor(readonly capabilities: StorageCapabilities) {
    this.segments = capabilities.segmentRetention
      ? { maintainSegments: (...args) => this.maintainSegments(...args) }
      : undefined;
  }

  private partition(ref: PartitionRef): PartitionState {
    const key = refKey(ref);
    let p = this.partitions.get(key);
    if (!p) {
      p = { offsets: [], messages: new Map(), segments: [{ ...TAIL }], delayed: new Map() };
      this.partitions.set(key, p);
    }
    return p;
  }

  /**
   * Runs one operation: synchronously (so it is atomic: no other call runs in between), with
   * its errors as a rejected promise, and refused once the store is closed.
   */
  private run<T>(work: () => T): Promise<T> {
    try {
      if (this.closed) throw new HeraldError('STORAGE_UNAVAILABLE', 'the memory store is closed');
      return Promise.resolve(work());
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  ensureTopic(
    topic: string,
    partitions: number,
    segmentMessages = DEFAULTS.retention.segmentMessages,
  ): Promise<void> {
    return this.run(() => {
      for (let partition = 0; partition < partitions; partition++) {
        const ref = { topic, partition };
        if (!this.partitions.has(refKey(ref)))
          this.partition(ref).segments = withTail(initialSegments(segmentMessages));
      }
    });
  }

  dropTopic(topic: string): Promise<void> {
    return this.run(() => {
      for (const key of [...this.partitions.keys()])
        if (key.startsWith(`${topic}\u0000`)) this.partitions.delete(key);
      for (const key of [...this.offsets.keys()])
        if (key.includes(`\u0000${topic}\u0000`)) this.offsets.delete(key);
    });
  }

  lastOffset(ref: PartitionRef): Promise<number> {
    return this.run(() => {
      const { offsets } = this.partition(ref);
      return offsets[offsets.length - 1] ?? 0;
    });
  }

  append(
    batches: AppendBatch[],
    publishedAt: number,
    { trace = [], offsets = [] }: AppendRiders = {},
  ): Promise<AppendOutcome[]> {
    return this.run((): AppendOutcome[] => {
      if (trace.length > 0) requireCapability(this.kind, this.capabilities, 'traceInAppend', 'trace');
      if (offsets.length > 0) requireCapability(this.kind, this.capabilities, 'offsetsInAppend', 'offsets');
      // One batch, or all or none: a failure is thrown (a fence is PARTITION_FENCED).
      if (this.capabilities.atomicMultiPartitionAppend || batches.length === 1) {
        // Every check before any change: an append is all or none, its riders included.
        for (const b of batches) this.check(b);
        for (const b of batches) this.store(b, publishedAt);
        this.storeTrace(trace);
        this.storeOffsets(offsets);
        return batches.map((b) => ({ ok: true, firstOffset: b.firstOffset }));
      }
      // Without atomic appends each batch is stored, or refused, on its own; the riders in any
      // case.
      this.storeTrace(trace);
      this.storeOffsets(offsets);
      return batches.map((b): AppendOutcome => {
        try {
          this.check(b);
        } catch (err) {
          if (err instanceof HeraldError) return { ok: false, error: err };
          throw err;
        }
        this.store(b, publishedAt);
        return { ok: true, firstOffset: b.firstOffset };
      });
    });
  }

  private check(b: AppendBatch): void {
    const p = this.partition(b.ref);
    b.messages.forEach((m, i) => {
      if (m.priority) requireCapability(this.kind, this.capabilities, 'priorityLanes', b.ref.topic);
      if (m.scheduled) requireCapability(this.kind, this.capabilities, 'delayedMessages', b.ref.topic);
      if (p.messages.has(b.firstOffset + i)) {
        throw new HeraldError('PARTITION_FENCED', 'insert messages: offsets already taken by another writer');
      }
      if (m.scheduled && !p.delayed.has(m.scheduled.id)) {
        throw new HeraldError(
          'PARTITION_FENCED',
          `delayed messages of ${b.ref.topic}/${b.ref.partition} were already dispatched by another writer`,
          { topic: b.ref.topic, partition: String(b.ref.partition) },
        );
      }
    });
  }

  private store(b: AppendBatch, publishedAt: number): void {
    const p = this.partition(b.ref);
    b.messages.forEach((m, i) => {
      const offset = b.firstOffset + i;
      p.messages.set(offset, { ...copyMessage(m), offset, publishedAt });
      insertSorted(p.offsets, offset);
      if (m.scheduled) p.delayed.delete(m.scheduled.id);
    });
  }

  read(
    ref: PartitionRef,
    afterOffset: number,
    limit: number,
    lane: Lane = 'normal',
  ): Promise<StoredMessage[]> {
    return this.run(() => {
      const p = this.partition(ref);
      const out: StoredMessage[] = [];
      for (let i = firstAbove(p.offsets, afterOffset); i < p.offsets.length && out.length < limit; i++) {
        const m = p.messages.get(p.offsets[i])!;
        if (m.priority === (lane === 'priority')) out.push(copyStored(m));
      }
      return out;
    });
  }

  readOffsets(ref: PartitionRef, offsets: number[]): Promise<StoredMessage[]> {
    return this.run(() => {
      const p = this.partition(ref);
      const found = [...new Set(offsets)].flatMap((o) => {
        const m = p.messages.get(o);
        return m ? [copyStored(m)] : [];
      });
      return found.sort((a, b) => a.offset - b.offset);
    });
  }

  committedOffset(group: string, ref: PartitionRef): Promise<number> {
    return this.run(() => {
      return this.offsets.get(offsetKey(group, ref)) ?? 0;
    });
  }

  findCommittedOffset(group: string, ref: PartitionRef): Promise<number | undefined> {
    return this.run(() => this.offsets.get(offsetKey(group, ref)));
  }

  broadcastConsumers(group: string, topic: string): Promise<string[]> {
    return this.run(() => {
      const found = new Set<string>();
      for (const key of this.offsets.keys()) {
        const [g, t] = key.split('\u0000');
        const consumer = t === topic ? broadcastConsumerOf(group, g) : undefined;
        if (consumer !== undefined) found.add(consumer);
      }
      return [...found];
    });
  }

  dropOffsets(group: string, topic: string): Promise<void> {
    return this.run(() => {
      for (const key of [...this.offsets.keys()])
        if (key.startsWith(`${group}\u0000${topic}\u0000`)) this.offsets.delete(key);
    });
  }

  commitOffsets(commits: OffsetCommit[]): Promise<void> {
    return this.run(() => this.storeOffsets(commits));
  }

  private storeOffsets(commits: readonly OffsetCommit[]): void {
    for (const c of commits) {
      const key = offsetKey(c.group, c.ref);
      this.offsets.set(key, Math.max(this.offsets.get(key) ?? 0, c.offset));
    }
  }

  commitOffset(group: string, ref: PartitionRef, offset: number): Promise<void> {
    return this.commitOffsets([{ group, ref, offset }]);
  }

  forceCommittedOffset(group: string, ref: PartitionRef, offset: number): Promise<void> {
    return this.run(() => {
      this.offsets.set(offsetKey(group, ref), offset);
    });
  }

  offsetAtTime(ref: PartitionRef, at: number): Promise<number | undefined> {
    return this.run(() => {
      const p = this.partition(ref);
      // publishedAt grows with the offset (one owner at a time writes in offset order).
      let lo = 0;
      let hi = p.offsets.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (p.messages.get(p.offsets[mid])!.publishedAt >= at) hi = mid;
        else lo = mid + 1;
      }
      return p.offsets[lo];
    });
  }

  firstOffset(ref: PartitionRef): Promise<number | undefined> {
    return this.run(() => {
      return this.partition(ref).offsets[0];
    });
  }

  private maintainSegments(
    ref: PartitionRef,
    endOffset: number,
    segmentMessages: number,
    expireBefore: number,
  ): Promise<{ from: number; to: number }[]> {
    return this.run(() => {
      const p = this.partition(ref);
      const expired: Segment[] = [];
      for (const s of droppable(p.segments, endOffset)) {
        const newest = p.offsets
          .filter((o) => o >= s.from && o <= s.to)
          .reduce((n, o) => Math.max(n, p.messages.get(o)!.publishedAt), -1);
        if (newest >= expireBefore) break;
        expired.push(s);
      }
      for (const s of expired) {
        p.offsets = p.offsets.filter((o) => {
          if (o < s.from || o > s.to) return true;
          p.messages.delete(o);
          return false;
        });
      }
      p.segments = p.segments.filter((s) => !expired.includes(s));
      const tail = p.segments[p.segments.length - 1];
      const split = planSplit(tail.from, endOffset, segmentMessages);
      if (split.length > 0) p.segments.splice(-1, 1, ...withTail(split));
      return expired.map(({ from, to }) => ({ from, to }));
    });
  }

  scheduleDelayed(
    ref: PartitionRef,
    messages: { deliverAt: number; message: NewMessage }[],
  ): Promise<number[]> {
    return this.run(() => {
      if (messages.length > 0) requireCapability(this.kind, this.capabilities, 'delayedMessages', ref.topic);
      const p = this.partition(ref);
      return messages.map(({ deliverAt, message }) => {
        const id = this.nextId.delayed++;
        p.delayed.set(id, { id, deliverAt, message: copyMessage(message) });
        return id;
      });
    });
  }

  dueDelayed(
    ref: PartitionRef,
    until: number,
    limit: number,
    after?: { deliverAt: number; id: number },
  ): Promise<DelayedMessage[]> {
    return this.run(() => {
      const due = [...this.partition(ref).delayed.values()]
        .filter(
          (d) =>
            d.deliverAt < until &&
            (!after || d.deliverAt > after.deliverAt || (d.deliverAt === after.deliverAt && d.id > after.id)),
        )
        .sort((a, b) => a.deliverAt - b.deliverAt || a.id - b.id)
        .slice(0, limit);
      return due.map((d) => ({ ...d, message: copyMessage(d.message) }));
    });
  }

  private schedule(group: string, ref: PartitionRef): Map<number, Resend> {
    const key = offsetKey(group, ref);
    let s = this.resends.get(key);
    if (!s) this.resends.set(key, (s = new Map<number, Resend>()));
    return s;
  }

  scheduleResends(resends: Resend[]): Promise<void> {
    return this.run(() => {
      for (const r of resends) this.schedule(r.group, r.ref).set(r.offset, { ...r, ref: { ...r.ref } });
    });
  }

  dueResends(group: string, ref: PartitionRef, now: number, limit: number): Promise<Resend[]> {
    return this.run(() => {
      const due = [...this.schedule(group, ref).values()]
        .filter((r) => r.scheduleAt <= now)
        .sort((a, b) => a.scheduleAt - b.scheduleAt || a.offset - b.offset)
        .slice(0, limit);
      return due.map((r) => ({ ...r, ref: { ...r.ref } }));
    });
  }

  nextResendAt(group: string, ref: PartitionRef, after = -1): Promise<number | undefined> {
    return this.run(() => {
      let next: number | undefined;
      for (const r of this.schedule(group, ref).values()) {
        if (r.scheduleAt > after && (next === undefined || r.scheduleAt < next)) next = r.scheduleAt;
      }
      return next;
    });
  }

  deleteResends(group: string, ref: PartitionRef, offsets: number[]): Promise<void> {
    return this.run(() => {
      const s = this.schedule(group, ref);
      for (const o of offsets) s.delete(o);
    });
  }

  dropResends(group: string, topic: string): Promise<void> {
    return this.run(() => {
      for (const key of [...this.resends.keys()])
        if (key.startsWith(`${group}\u0000${topic}\u0000`)) this.resends.delete(key);
    });
  }

  deadLetter(letters: NewDeadLetter[]): Promise<void> {
    return this.run(() => {
      const deadAt = Date.now();
      for (const l of letters) {
        this.deadLetters.push({ ...copyLetter(l), id: this.nextId.deadLetter++, deadAt });
        this.schedule(l.group, l.message.ref).delete(l.message.offset);
      }
    });
  }

  private matching(query: DeadLetterQuery): DeadLetter[] {
    return this.deadLetters.filter(
      (l) =>
        l.message.ref.topic === query.topic &&
        l.group === query.group &&
        l.deadAt >= query.sinceMs &&
        (query.untilMs === 0 || l.deadAt < query.untilMs) &&
        (query.ids.length === 0 || query.ids.includes(l.id)),
    );
  }

  listDeadLetters(query: DeadLetterQuery, limit: number, after: number): Promise<DeadLetter[]> {
    return this.run(() => {
      const page = this.matching(query)
        .filter((l) => after === 0 || l.id < after)
        .sort((a, b) => b.id - a.id)
        .slice(0, limit);
      return page.map((l) => ({ ...copyLetter(l), id: l.id, deadAt: l.deadAt }));
    });
  }

  replayDeadLetters(query: DeadLetterQuery, now: number): Promise<DeadLetter[]> {
    return this.run(() => {
      const letters = this.matching(query);
      for (const l of letters) {
        // Due now, with a fresh budget: the replay is delivered as attempt 1 again.
        this.schedule(l.group, l.message.ref).set(l.message.offset, {
          group: l.group,
          ref: { ...l.message.ref },
          offset: l.message.offset,
          scheduleAt: now,
          attempts: 0,
          lastError: '',
        });
      }
      this.deadLetters = this.deadLetters.filter((l) => !letters.includes(l));
      return letters;
    });
  }

  purgeDeadLetters(query: DeadLetterQuery): Promise<number> {
    return this.run(() => {
      const doomed = this.matching(query);
      this.deadLetters = this.deadLetters.filter((l) => !doomed.includes(l));
      return doomed.length;
    });
  }

  retryCounts(group: string, topic: string): Promise<RetryCount[]> {
    return this.run(() => {
      const resends: [number, number][] = [];
      for (const [key, s] of this.resends)
        if (key.startsWith(`${group}\u0000${topic}\u0000`) && s.size > 0)
          resends.push([[...s.values()][0].ref.partition, s.size]);
      const letters = this.deadLetters
        .filter((l) => l.group === group && l.message.ref.topic === topic)
        .map((l): [number, number] => [l.message.ref.partition, 1]);
      return mergeRetryCounts(resends, letters);
    });
  }

  expireDeadLetters(topic: string, group: string, before: number): Promise<number> {
    return this.run(() => {
      const kept = this.deadLetters.filter(
        (l) => l.message.ref.topic !== topic || l.group !== group || l.deadAt >= before,
      );
      const expired = this.deadLetters.length - kept.length;
      this.deadLetters = kept;
      return expired;
    });
  }

  appendTrace(events: TraceEvent[]): Promise<void> {
    return this.run(() => this.storeTrace(events));
  }

  private storeTrace(events: readonly TraceEvent[]): void {
    for (const e of events) {
      this.traceEvents.push({
        id: this.nextId.trace++,
        event: {
          ...e,
          ref: { ...e.ref },
          refKey: e.refKey.slice(0, 1024),
          consumerId: e.consumerId.slice(0, 255),
          broker: e.broker.slice(0, 255),
          detail: { ...e.detail },
        },
      });
    }
  }

  trace(query: TraceQuery, limit: number): Promise<TraceEvent[]> {
    return this.run(() => {
      const match =
        'messageId' in query
          ? (e: TraceEvent) => e.messageId === query.messageId
          : (e: TraceEvent) => e.ref.topic === query.topic && e.refKey === query.refKey;
      const found = this.traceEvents
        .filter((r) => match(r.event))
        .sort((a, b) => a.event.at - b.event.at || a.id - b.id)
        .slice(0, limit);
      return found.map((r) => ({ ...r.event, ref: { ...r.event.ref }, detail: { ...r.event.detail } }));
    });
  }

  expireTrace(before: number): Promise<number> {
    return this.run(() => {
      const kept = this.traceEvents.filter((r) => r.event.at >= before);
      const expired = this.traceEvents.length - kept.length;
      this.traceEvents = kept;
      return expired;
    });
  }

  appendCommands(commands: Command[]): Promise<number> {
    return this.run(() => {
      const at = Date.now();
      for (const command of commands) {
        this.commands.push({
          id: this.nextId.command++,
          at,
          command: { ...command, ref: { ...command.ref } },
        });
      }
      return this.commands[this.commands.length - 1]?.id ?? 0;
    });
  }

  commandsAfter(afterId: number, limit: number): Promise<{ id: number; command: Command }[]> {
    return this.run(() => {
      const found = this.commands.filter((c) => c.id > afterId).slice(0, limit);
      return found.map(({ id, command }) => ({ id, command: { ...command, ref: { ...command.ref } } }));
    });
  }

  lastCommandId(): Promise<number> {
    return this.run(() => {
      return this.commands[this.commands.length - 1]?.id ?? 0;
    });
  }

  expireCommands(before: number): Promise<number> {
    return this.run(() => {
      const kept = this.commands.filter((c) => c.at >= before);
      const expired = this.commands.length - kept.length;
      this.commands = kept;
      return expired;
    });
  }

  ping(): Promise<void> {
    return this.run(() => undefined);
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

function refKey(ref: PartitionRef): string {
  return `${ref.topic}\u0000${ref.partition}`;
}

function offsetKey(group: string, ref: PartitionRef): string {
  return `${group}\u0000${refKey(ref)}`;
}

function copyMessage<M extends NewMessage>(m: M): M {
  return {
    ...m,
    tags: [...m.tags],
    properties: { ...m.properties },
    body: Buffer.from(m.body),
    ...(m.scheduled ? { scheduled: { ...m.scheduled } } : {}),
  };
}

function copyStored(m: StoredMessage): StoredMessage {
  return copyMessage(m);
}

/** A dead letter keeps the message, not how it was once scheduled. */
function copyLetter(l: NewDeadLetter): NewDeadLetter {
  const message = copyMessage(l.message);
  delete message.scheduled;
  return {
    group: l.group,
    message: { ...message, ref: { ...l.message.ref } },
    reason: l.reason,
    attempts: l.attempts,
    lastError: l.lastError,
  };
}

/** The index of the first element > value in an ascending array. */
function firstAbove(sorted: number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] > value) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function insertSorted(sorted: number[], value: number): void {
  if (sorted.length === 0 || sorted[sorted.length - 1] < value) sorted.push(value);
  else sorted.splice(firstAbove(sorted, value), 0, value);
}
