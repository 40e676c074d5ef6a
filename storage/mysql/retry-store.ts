// The MySQL adapter of RetryStore: the resend schedule and dead letters. Statements come from
// retry-sql.ts.
import type { RowDataPacket } from 'mysql2/promise';
import { mergeRetryCounts } from '../retry-store';
import type {
  DeadLetter,
  DeadLetterQuery,
  NewDeadLetter,
  Resend,
  RetryCount,
  RetryStore,
} from '../retry-store';
import type { PartitionRef } from '../storage';
import type { MysqlConnection } from './connection';
import { RETRY_SQL, deadLetterFilterParams } from './retry-sql';
import type { CountRow, DeadLetterRow, ResendRow } from './retry-sql';
import { toStored } from './rows';

export class MysqlRetryStore implements RetryStore {
  constructor(private readonly db: MysqlConnection) {}

  async scheduleResends(resends: Resend[]): Promise<void> {
    if (resends.length === 0) return;
    const rows = resends.map((r) => [
      r.group,
      r.ref.topic,
      r.ref.partition,
      r.scheduleAt,
      r.offset,
      r.attempts,
      r.lastError,
    ]);
    await this.db.run('schedule resends', RETRY_SQL.scheduleResends, [rows]);
  }

  async dueResends(group: string, ref: PartitionRef, now: number, limit: number): Promise<Resend[]> {
    const rows = await this.db.run<(ResendRow & RowDataPacket)[]>('read due resends', RETRY_SQL.dueResends, [
      group,
      ref.topic,
      ref.partition,
      now,
      limit,
    ]);
    return rows.map((r) => ({
      group: r.group_name,
      ref: { topic: r.topic, partition: Number(r.partition_id) },
      offset: Number(r.msg_offset),
      scheduleAt: Number(r.schedule_at),
      attempts: Number(r.attempts),
      lastError: r.last_error,
    }));
  }

  async nextResendAt(group: string, ref: PartitionRef, after = -1): Promise<number | undefined> {
    const rows = await this.db.run('read next resend', RETRY_SQL.nextResendAt, [
      group,
      ref.topic,
      ref.partition,
      after,
    ]);
    const next = rows[0]?.next as number | string | null | undefined;
    return next === null || next === undefined ? undefined : Number(next);
  }

  async deleteResends(group: string, ref: PartitionRef, offsets: number[]): Promise<void> {
    if (offsets.length === 0) return;
    await this.db.run('delete resends', RETRY_SQL.deleteResends, [group, ref.topic, ref.partition, offsets]);
  }

  async dropResends(group: string, topic: string): Promise<void> {
    await this.db.run('drop resends', RETRY_SQL.dropResends, [group, topic]);
  }

  async deadLetter(letters: NewDeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    const deadAt = Date.now();
    const rows = letters.map((l) => [
      l.group,
      l.message.ref.topic,
      l.message.ref.partition,
      l.message.offset,
      l.message.publishedAt,
      l.message.key,
      l.message.refKey,
      JSON.stringify(l.message.tags),
      JSON.stringify(l.message.properties),
      l.message.body,
      l.message.priority ? 1 : 0,
      l.reason,
      l.attempts,
      l.lastError,
      deadAt,
    ]);
    await this.db.transaction('dead-letter', async (conn) => {
      await conn.query({ sql: RETRY_SQL.insertDeadLetters, values: [rows], timeout: this.db.timeout });
      for (const [, group] of groupByPartition(letters)) {
        const { group: name, message } = group[0];
        const offsets = group.map((l) => l.message.offset);
        await conn.query({
          sql: RETRY_SQL.deleteResends,
          values: [name, message.ref.topic, message.ref.partition, offsets],
          timeout: this.db.timeout,
        });
      }
    });
  }

  async listDeadLetters(query: DeadLetterQuery, limit: number, after: number): Promise<DeadLetter[]> {
    const rows = await this.db.run<(DeadLetterRow & RowDataPacket)[]>(
      'list dead letters',
      RETRY_SQL.listDeadLetters,
      [...deadLetterFilterParams(query), after, after, limit],
    );
    return rows.map(toDeadLetter);
  }

  replayDeadLetters(query: DeadLetterQuery, now: number): Promise<DeadLetter[]> {
    return this.db.transaction('replay dead letters', async (conn) => {
      const [rows] = await conn.query<(DeadLetterRow & RowDataPacket)[]>({
        sql: RETRY_SQL.lockDeadLetters,
        values: deadLetterFilterParams(query),
        timeout: this.db.timeout,
      });
      const letters = rows.map(toDeadLetter);
      if (letters.length === 0) return letters;
      // Due now, with a fresh budget: the replay is delivered as attempt 1 again.
      const resends = letters.map((l) => [
        l.group,
        l.message.ref.topic,
        l.message.ref.partition,
        now,
        l.message.offset,
        0,
        '',
      ]);
      await conn.query({ sql: RETRY_SQL.scheduleResends, values: [resends], timeout: this.db.timeout });
      await conn.query({
        sql: RETRY_SQL.deleteDeadLettersById,
        values: [letters.map((l) => l.id)],
        timeout: this.db.timeout,
      });
      return letters;
    });
  }

  async retryCounts(group: string, topic: string): Promise<RetryCount[]> {
    type Rows = (CountRow & RowDataPacket)[];
    const [resends, letters] = await Promise.all([
      this.db.run<Rows>('count resends', RETRY_SQL.countResends, [group, topic]),
      this.db.run<Rows>('count dead letters', RETRY_SQL.countDeadLetters, [topic, group]),
    ]);
    return mergeRetryCounts(
      resends.map((r) => [Number(r.partition_id), Number(r.n)]),
      letters.map((r) => [Number(r.partition_id), Number(r.n)]),
    );
  }

  async purgeDeadLetters(query: DeadLetterQuery): Promise<number> {
    return this.db.affected('purge dead letters', RETRY_SQL.purgeDeadLetters, deadLetterFilterParams(query));
  }

  async expireDeadLetters(topic: string, group: string, before: number): Promise<number> {
    return this.db.affected('expire dead letters', RETRY_SQL.expireDeadLetters, [topic, group, before]);
  }
}

function toDeadLetter(row: DeadLetterRow): DeadLetter {
  return {
    id: Number(row.id),
    group: row.group_name,
    message: {
      ...toStored({ ...row, id: row.msg_offset, scheduled_id: null, deliver_at: null }),
      ref: { topic: row.topic, partition: Number(row.partition_id) },
    },
    reason: row.reason,
    attempts: Number(row.attempts),
    lastError: row.last_error,
    deadAt: Number(row.dead_at),
  };
}

function groupByPartition(letters: NewDeadLetter[]): Map<string, NewDeadLetter[]> {
  const out = new Map<string, NewDeadLetter[]>();
  for (const l of letters) {
    const k = `${l.group}\u0000${l.message.ref.topic}\u0000${l.message.ref.partition}`;
    out.set(k, [...(out.get(k) ?? []), l]);
  }
  return out;
}
