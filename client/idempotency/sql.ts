// Every SQL statement of the MySQL idempotency checker, named and documented with its
// parameters. The table name is the only identifier that varies; it is validated here only.
// Times come from the database's clock, so consumers on hosts with skewed clocks agree.

/** `herald_consumed` or a custom name: letters, digits and "_" only, quoted. */
export function tableIdent(table: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(table)) {
    throw new RangeError(
      `table must be 1-64 letters, digits or "_" (not starting with a digit), got ${JSON.stringify(table)}`,
    );
  }
  return `\`${table}\``;
}

export const SQL = {
  /** One row per (group, key) ever processed. Params: none. */
  createTable: (t: string) => `CREATE TABLE IF NOT EXISTS ${tableIdent(t)} (
      group_name VARCHAR(64) NOT NULL,
      dedup_key VARCHAR(255) NOT NULL,
      state ENUM('processing', 'done') NOT NULL,
      -- While processing: when another consumer may take the key over (the first one died).
      expires_at TIMESTAMP(3) NOT NULL,
      created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
      PRIMARY KEY (group_name, dedup_key),
      KEY by_age (created_at)
    ) ENGINE=InnoDB`,
  /** Claims a key. Params: [group, key, claimTimeoutMicros]. affectedRows 1: claimed; 0: it exists. */
  claim: (t: string) => `INSERT IGNORE INTO ${tableIdent(t)} (group_name, dedup_key, state, expires_at)
      VALUES (?, ?, 'processing', CURRENT_TIMESTAMP(3) + INTERVAL ? MICROSECOND)`,
  /** Claims a key inside the caller's transaction, which makes it final. Params: [group, key]. */
  claimDone: (t: string) => `INSERT IGNORE INTO ${tableIdent(t)} (group_name, dedup_key, state, expires_at)
      VALUES (?, ?, 'done', CURRENT_TIMESTAMP(3))`,
  /** Takes over a claim whose holder died. Params: [claimTimeoutMicros, group, key]. affectedRows 1: taken. */
  takeOver: (t: string) => `UPDATE ${tableIdent(t)}
      SET expires_at = CURRENT_TIMESTAMP(3) + INTERVAL ? MICROSECOND, created_at = CURRENT_TIMESTAMP(3)
      WHERE group_name = ? AND dedup_key = ? AND state = 'processing' AND expires_at < CURRENT_TIMESTAMP(3)`,
  /** Params: [group, key]. Rows: { state }. */
  stateOf: (t: string) => `SELECT state FROM ${tableIdent(t)} WHERE group_name = ? AND dedup_key = ?`,
  /** Marks a claimed key processed. Params: [group, key]. */
  markDone: (t: string) =>
    `UPDATE ${tableIdent(t)} SET state = 'done' WHERE group_name = ? AND dedup_key = ?`,
  /** Releases a claim after the handler failed, so a redelivery runs it again. Params: [group, key]. */
  release: (t: string) => `DELETE FROM ${tableIdent(t)}
      WHERE group_name = ? AND dedup_key = ? AND state = 'processing'`,
  /** Deletes up to `limit` keys older than a retention. Params: [retentionMicros, limit]. */
  deleteOlderThan: (t: string) => `DELETE FROM ${tableIdent(t)}
      WHERE created_at < CURRENT_TIMESTAMP(3) - INTERVAL ? MICROSECOND LIMIT ?`,
};
