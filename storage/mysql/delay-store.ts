// The MySQL adapter of DelayStore: one delay table per partition, created with its first
// delayed message. Statements come from sql-delay.ts; an append of due messages removes them
// (MysqlMessageStore.append).
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { DelayStore, DelayedMessage } from '../delay-store';
import type { NewMessage, PartitionRef } from '../storage';
import { classifyMysqlError, isMissingTable } from './connection';
import type { MysqlConnection } from './connection';
import { messageColumns, messageFields } from './rows';
import { DELAY_SQL } from './sql-delay';
import type { DelayedRow } from './sql-delay';

export class MysqlDelayStore implements DelayStore {
  constructor(private readonly db: MysqlConnection) {}

  async scheduleDelayed(
    ref: PartitionRef,
    messages: { deliverAt: number; message: NewMessage }[],
  ): Promise<number[]> {
    if (messages.length === 0) return [];
    const rows = messages.map(({ deliverAt, message: m }) => [deliverAt, ...messageColumns(m), m.priority]);
    const insert = () =>
      this.db.pool.query<ResultSetHeader>({
        sql: DELAY_SQL.insertDelayed(ref.topic, ref.partition),
        values: [rows],
        timeout: this.db.timeout,
      });
    try {
      const [res] = await insert().catch(async (err: unknown) => {
        // The table is created with the partition's first delayed message.
        if (!isMissingTable(err)) throw err;
        await this.db.pool.query(DELAY_SQL.createDelayTable(ref.topic, ref.partition));
        return insert();
      });
      return messages.map((_, i) => Number(res.insertId) + i);
    } catch (err) {
      throw classifyMysqlError(err, 'insert delayed messages');
    }
  }

  async dueDelayed(
    ref: PartitionRef,
    until: number,
    limit: number,
    after?: { deliverAt: number; id: number },
  ): Promise<DelayedMessage[]> {
    const { topic, partition } = ref;
    const [sql, values] = after
      ? [
          DELAY_SQL.dueDelayedAfter(topic, partition),
          [until, after.deliverAt, after.deliverAt, after.id, limit],
        ]
      : [DELAY_SQL.dueDelayed(topic, partition), [until, limit]];
    try {
      const [rows] = await this.db.pool.query<(DelayedRow & RowDataPacket)[]>({
        sql,
        values,
        timeout: this.db.timeout,
      });
      return rows.map(toDelayed);
    } catch (err) {
      if (isMissingTable(err)) return [];
      throw classifyMysqlError(err, 'read delayed messages');
    }
  }
}

function toDelayed(row: DelayedRow): DelayedMessage {
  return {
    id: Number(row.id),
    deliverAt: Number(row.deliver_at),
    message: { ...messageFields(row), priority: Boolean(row.priority) },
  };
}
