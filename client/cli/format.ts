// What the herald CLI prints: aligned tables for people, one JSON object per line for scripts
// (-o json; `jq` reads it). Pure; unit-tested.
import type {
  DeadLetter,
  Delivery,
  PartitionLag,
  PartitionReset,
  PeekResponse,
  SendResult,
  TopicSummary,
  TraceEvent,
} from '../index';

export interface Column<T> {
  header: string;
  value(row: T): string;
}

/** Rows as a table: a header line, then one line per row, columns padded to their widest cell. */
export function table<T>(rows: T[], columns: Column<T>[]): string {
  const cells = [columns.map((c) => c.header), ...rows.map((r) => columns.map((c) => oneLine(c.value(r))))];
  const widths = columns.map((_, i) => Math.max(...cells.map((line) => line[i].length)));
  return (
    cells
      .map((line) =>
        line
          .map((cell, i) => cell.padEnd(widths[i]))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

/** One JSON object per line. */
export function jsonLines(records: object[]): string {
  return records.map((r) => JSON.stringify(r) + '\n').join('');
}

function oneLine(s: string): string {
  return s.replace(/\r?\n/g, '\\n');
}

/** A body as text when it is printable UTF-8, else base64 (with the encoding said). */
export function bodyOf(body: Buffer): { body: string; bodyEncoding: 'utf8' | 'base64' } {
  const text = body.toString('utf8');
  const printable = Buffer.from(text, 'utf8').equals(body) && ![...text].some(isControl);
  return printable
    ? { body: text, bodyEncoding: 'utf8' }
    : { body: body.toString('base64'), bodyEncoding: 'base64' };
}

/** C0 control characters other than tab, newline and carriage return. */
function isControl(ch: string): boolean {
  const c = ch.charCodeAt(0);
  return c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d;
}

export function isoTime(ms: number): string {
  return ms > 0 ? new Date(ms).toISOString() : '';
}

export function sendRecord(r: SendResult): object {
  return { ...r, ...(r.deliverAtMs > 0 ? { deliverAt: isoTime(r.deliverAtMs) } : {}) };
}

export const SEND_COLUMNS: Column<SendResult>[] = [
  { header: 'MESSAGE-ID', value: (r) => r.messageId },
  { header: 'PARTITION', value: (r) => String(r.partition) },
  { header: 'OFFSET', value: (r) => (r.offset > 0 ? String(r.offset) : '-') },
  { header: 'DELIVER-AT', value: (r) => isoTime(r.deliverAtMs) || 'now' },
];

export function deliveryRecord(d: Delivery): object {
  return {
    messageId: d.messageId,
    topic: d.topic,
    partition: d.partition,
    offset: d.offset,
    key: d.key,
    refKey: d.refKey,
    tags: d.tags,
    properties: d.properties,
    ...bodyOf(d.body),
    publishTime: isoTime(d.publishTimeMs),
    deliveryAttempt: d.deliveryAttempt,
    priority: d.priority,
    ...(d.scheduledId ? { scheduledId: d.scheduledId, deliverAt: isoTime(d.deliverAtMs) } : {}),
  };
}

/** A delivered message on one line, for people: id, then what is set, then the body. */
export function deliveryLine(d: Delivery): string {
  const parts = [d.messageId];
  if (d.key) parts.push(`key=${d.key}`);
  if (d.refKey) parts.push(`ref=${d.refKey}`);
  if (d.tags.length > 0) parts.push(`tags=${d.tags.join(',')}`);
  for (const [k, v] of Object.entries(d.properties)) parts.push(`${k}=${v}`);
  if (d.priority) parts.push('priority');
  if (d.deliveryAttempt > 1) parts.push(`attempt=${d.deliveryAttempt}`);
  const { body, bodyEncoding } = bodyOf(d.body);
  parts.push(bodyEncoding === 'utf8' ? oneLine(body) : `base64:${body}`);
  return parts.join('  ') + '\n';
}

export const LAG_COLUMNS: Column<PartitionLag>[] = [
  { header: 'PARTITION', value: (p) => String(p.partition) },
  { header: 'END', value: (p) => String(p.endOffset) },
  { header: 'COMMITTED', value: (p) => String(p.committedOffset) },
  { header: 'LAG', value: (p) => String(p.lag) },
  { header: 'IN-FLIGHT', value: (p) => String(p.inFlight) },
  { header: 'RETRYING', value: (p) => String(p.pendingRetries) },
  { header: 'DEAD', value: (p) => String(p.deadLetters) },
];

/** After a peek's messages, on stderr: the partition's range and where the next page starts. */
export function peekSummary(p: PeekResponse): string {
  const moved = p.startMoved ? ` (retention dropped older offsets: started at ${p.startOffset})` : '';
  const more = p.nextOffset <= p.endOffset ? `; next page: --offset ${p.nextOffset}` : '';
  return `retained offsets ${p.firstOffset}..${p.endOffset}${moved}${more}\n`;
}

/** A broadcast group's lag: a row per consumer and partition. */
export const BROADCAST_LAG_COLUMNS: Column<PartitionLag>[] = [
  { header: 'CONSUMER', value: (p) => p.consumer },
  ...LAG_COLUMNS,
];

export function traceRecord(e: TraceEvent): object {
  return { ...e, at: isoTime(e.atMs) };
}

export const TRACE_COLUMNS: Column<TraceEvent>[] = [
  { header: 'TIME', value: (e) => isoTime(e.atMs) },
  { header: 'EVENT', value: (e) => e.event },
  { header: 'MESSAGE-ID', value: (e) => e.messageId },
  { header: 'GROUP', value: (e) => e.group },
  { header: 'CONSUMER', value: (e) => e.consumerId },
  { header: 'ATTEMPT', value: (e) => (e.attempt > 0 ? String(e.attempt) : '') },
  { header: 'BROKER', value: (e) => e.broker },
  { header: 'DETAIL', value: traceDetail },
];

/**
 * An event's detail for people: a push attempt as its answer, latency, endpoint and what went
 * wrong (`HTTP 503 in 12 ms from 10.0.0.5:8443: busy`, `no answer in 5001 ms from 10.0.0.5:8443:
 * timeout after 5000 ms`); any other event as its key=value pairs (a value with spaces quoted).
 */
export function traceDetail(e: TraceEvent): string {
  const { status, durationMs, endpoint, error, ...rest } = e.detail;
  if (e.event !== 'push-attempt' || status === undefined) return pairs(e.detail);
  const answer = status === '0' ? 'no answer' : `HTTP ${status}`;
  // What went wrong beyond the status: the text an error answer carried, or why none came.
  const why = error?.startsWith(`${answer}: `)
    ? error.slice(answer.length + 2)
    : error === answer
      ? ''
      : error;
  return [
    answer,
    durationMs !== undefined ? ` in ${durationMs} ms` : '',
    endpoint ? ` from ${endpoint}` : '',
    why ? `: ${why}` : '',
    Object.keys(rest).length > 0 ? `  ${pairs(rest)}` : '',
  ].join('');
}

function pairs(detail: Record<string, string>): string {
  return Object.entries(detail)
    .map(([k, v]) => `${k}=${/\s/.test(v) ? JSON.stringify(v) : v}`)
    .join(' ');
}

export function deadLetterRecord(d: DeadLetter): object {
  return {
    id: d.id,
    group: d.group,
    reason: d.reason,
    attempts: d.attempts,
    lastError: d.lastError,
    deadAt: isoTime(d.deadAtMs),
    message: d.message ? deliveryRecord(d.message) : null,
  };
}

export const DEAD_LETTER_COLUMNS: Column<DeadLetter>[] = [
  { header: 'ID', value: (d) => String(d.id) },
  { header: 'MESSAGE-ID', value: (d) => d.message?.messageId ?? '' },
  { header: 'DEAD-AT', value: (d) => isoTime(d.deadAtMs) },
  { header: 'ATTEMPTS', value: (d) => String(d.attempts) },
  { header: 'REASON', value: (d) => d.reason },
  { header: 'LAST-ERROR', value: (d) => truncate(d.lastError, 60) },
  { header: 'BODY', value: (d) => (d.message ? truncate(bodyOf(d.message.body).body, 40) : '') },
];

export const RESET_COLUMNS: Column<PartitionReset>[] = [
  { header: 'PARTITION', value: (p) => String(p.partition) },
  { header: 'PREVIOUS', value: (p) => String(p.previousOffset) },
  { header: 'COMMITTED', value: (p) => String(p.committedOffset) },
];

export const TOPIC_COLUMNS: Column<TopicSummary>[] = [
  { header: 'NAME', value: (t) => t.name },
  { header: 'PARTITIONS', value: (t) => `${t.assignedPartitions}/${t.partitions}` },
  { header: 'STORAGE', value: (t) => t.storage },
  { header: 'POOL', value: (t) => t.pool },
  {
    header: 'FEATURES',
    value: (t) => [t.priority ? 'priority' : '', t.delay ? 'delay' : ''].filter(Boolean).join(','),
  },
  { header: 'RETENTION', value: (t) => (t.retentionHours > 0 ? `${t.retentionHours}h` : '') },
  { header: 'GROUPS', value: (t) => t.groups.join(',') },
  { header: 'OWNER', value: (t) => t.owner },
  { header: 'CONTACT', value: (t) => t.contact },
];

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/** Splits input into messages: the whole text, or (with --lines) each non-empty line. */
export function splitMessages(text: string, lines: boolean): string[] {
  if (!lines) return [text.endsWith('\n') ? text.slice(0, -1) : text];
  return text.split(/\r?\n/).filter((l) => l !== '');
}
