// The MySQL adapter of TraceStore: trace events and the command log, expired by primary-key
// ranges found by time search. Statements come from trace-sql.ts.
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { HeraldError } from '../../common/errors';
import { firstAtOrAfter } from '../time-search';
import type { Command, TraceEvent, TraceQuery, TraceStore } from '../trace-store';
import { bounds, classifyMysqlError } from './connection';
import type { MysqlConnection } from './connection';
import { TRACE_SQL } from './trace-sql';
import type { CommandRow, LogTable, TraceRow } from './trace-sql';
import type { SqlValue } from './rows';

/** Rows per DELETE when expiring trace events and commands: short transactions. */
const EXPIRE_CHUNK = 5000;

/** The rows of TRACE_SQL.insertTraceEvents (also written inside a message commit, message-store.ts). */
export function traceRows(events: readonly TraceEvent[]): SqlValue[][] {
  // The messages of one Publish share one detail object: serialise it once.
  const details = new Map<Record<string, string>, string>();
  const json = (d: Record<string, string>) => {
    let text = details.get(d);
    if (text === undefined) details.set(d, (text = JSON.stringify(d)));
    return text;
  };
  return events.map((e) => [
    e.at,
    e.event,
    e.ref.topic,
    e.ref.partition,
    e.offset,
    e.messageId,
    e.refKey.slice(0, 1024),
    e.group,
    e.consumerId.slice(0, 255),
    e.attempt,
    e.broker.slice(0, 255),
    json(e.detail),
  ]);
}

export class MysqlTraceStore implements TraceStore {
  constructor(private readonly db: MysqlConnection) {}

  async appendTrace(events: TraceEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.db.run('append trace events', TRACE_SQL.insertTraceEvents, [traceRows(events)]);
  }

  async trace(query: TraceQuery, limit: number): Promise<TraceEvent[]> {
    const rows =
      'messageId' in query
        ? await this.db.run<(TraceRow & RowDataPacket)[]>('read trace', TRACE_SQL.traceByMessage, [
            query.messageId,
            limit,
          ])
        : await this.db.run<(TraceRow & RowDataPacket)[]>('read trace', TRACE_SQL.traceByRef, [
            query.topic,
            query.refKey,
            limit,
          ]);
    return rows.map(toTraceEvent);
  }

  expireTrace(before: number): Promise<number> {
    return this.expire('trace_events', before);
  }

  async appendCommands(commands: Command[]): Promise<number> {
    if (commands.length === 0) return this.lastCommandId();
    const now = Date.now();
    const rows = commands.map((c) => [
      now,
      c.kind,
      c.group,
      c.ref.topic,
      c.ref.partition,
      c.kind === 'reset' ? c.offset : 0,
    ]);
    const conn = await this.db.pool.getConnection().catch((err: unknown) => {
      throw classifyMysqlError(err, 'append commands');
    });
    try {
      // Readers take every id above the last they saw, so ids must become visible in order:
      // appenders take turns (the lock), and each INSERT commits before the next one starts.
      const [locked] = await conn.query<RowDataPacket[]>({
        sql: TRACE_SQL.lockCommands,
        values: [Math.ceil(this.db.timeout / 1000)],
        timeout: this.db.timeout,
      });
      if (Number(locked[0]?.locked) !== 1) {
        throw new HeraldError('STORAGE_UNAVAILABLE', 'append commands: the command log stayed locked');
      }
      let last: number;
      try {
        const [result] = await conn.query<ResultSetHeader>({
          sql: TRACE_SQL.insertCommands,
          values: [rows],
          timeout: this.db.timeout,
        });
        // One multi-row INSERT takes consecutive AUTO_INCREMENT ids; insertId is the first.
        last = result.insertId + commands.length - 1;
      } finally {
        await conn.query(TRACE_SQL.unlockCommands);
      }
      conn.release();
      return last;
    } catch (err) {
      const e = classifyMysqlError(err, 'append commands');
      // Dropping the connection also drops the lock it may hold.
      conn.destroy();
      throw e;
    }
  }

  async commandsAfter(afterId: number, limit: number): Promise<{ id: number; command: Command }[]> {
    const rows = await this.db.run<(CommandRow & RowDataPacket)[]>('read commands', TRACE_SQL.commandsAfter, [
      afterId,
      limit,
    ]);
    return rows.flatMap((r) => {
      const command = toCommand(r);
      return command ? [{ id: Number(r.id), command }] : [];
    });
  }

  async lastCommandId(): Promise<number> {
    const rows = await this.db.run('read last command id', TRACE_SQL.lastCommandId, []);
    return Number(rows[0]?.last ?? 0);
  }

  expireCommands(before: number): Promise<number> {
    return this.expire('commands', before);
  }

  /** Deletes the rows of a log table written before `before`, by primary-key ranges. */
  private async expire(table: LogTable, before: number): Promise<number> {
    const what = `expire ${table}`;
    const range = bounds((await this.db.run(what, TRACE_SQL.idRange(table), []))[0]);
    if (range === undefined) return 0;
    const keep = await firstAtOrAfter(range.lo, range.hi, before, (id) =>
      this.db.timedRow(what, TRACE_SQL.rowAtOrAfter(table), id),
    );
    const last = keep ? keep.id - 1 : range.hi;
    let deleted = 0;
    for (;;) {
      const changed = await this.db.affected(what, TRACE_SQL.deleteUpTo(table), [last, EXPIRE_CHUNK]);
      deleted += changed;
      if (changed < EXPIRE_CHUNK) return deleted;
    }
  }
}

function toTraceEvent(row: TraceRow): TraceEvent {
  return {
    at: Number(row.at_ms),
    event: row.event,
    ref: { topic: row.topic, partition: Number(row.partition_id) },
    offset: Number(row.offset_id),
    messageId: row.message_id,
    refKey: row.ref_key,
    group: row.group_name,
    consumerId: row.consumer_id,
    attempt: Number(row.attempt),
    broker: row.broker,
    detail: JSON.parse(row.detail) as Record<string, string>,
  };
}

/** A stored command, or undefined for a kind this broker does not know (a newer broker's). */
function toCommand(row: CommandRow): Command | undefined {
  const ref = { topic: row.topic, partition: Number(row.partition_id) };
  if (row.kind === 'reset')
    return { kind: 'reset', group: row.group_name, ref, offset: Number(row.offset_id) };
  if (row.kind === 'resend-wakeup') return { kind: 'resend-wakeup', group: row.group_name, ref };
  return undefined;
}
