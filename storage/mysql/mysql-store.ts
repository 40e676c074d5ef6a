// The MySQL/MariaDB adapter, on mysql2: one store per storage interface over one connection
// pool (connection.ts). Statements live in sql*.ts; the stores only run them and convert rows.
import type { AdapterStores } from '../adapter';
import { openMysqlConnection } from './connection';
import type { MysqlStoreOptions } from './connection';
import { MysqlDelayStore } from './delay-store';
import { MysqlMessageStore } from './message-store';
import { MysqlRetryStore } from './retry-store';
import { MysqlTraceStore } from './trace-store';

export type { MysqlStoreOptions } from './connection';

/** Every MySQL store of a pool, over one connection pool. */
export async function createMysqlStore(options: MysqlStoreOptions): Promise<AdapterStores> {
  const db = await openMysqlConnection(options);
  return {
    messages: new MysqlMessageStore(db),
    retries: new MysqlRetryStore(db),
    delays: new MysqlDelayStore(db),
    traces: new MysqlTraceStore(db),
    ping: () => db.ping(),
    close: () => db.close(),
  };
}
