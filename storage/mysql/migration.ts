// A schema migration of the MySQL adapter (sql.ts lists them).

/** A migration: applied once, in version order, recorded in herald_schema_migrations. */
export interface Migration {
  version: number;
  name: string;
  statements: string[];
}
