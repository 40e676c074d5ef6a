// The endpoints of the local environment, as test/env/up.sh wrote them, and unique names
// so that test files never collide with each other or with earlier runs.
import { randomBytes } from 'node:crypto';

export interface EnvEndpoints {
  kubeconfig: string;
  mysqlUrl: string;
  kafkaBrokers: string[];
  binDir: string;
  logDir: string;
}

export function testEnv(): EnvEndpoints {
  const raw = process.env.HERALD_ENV_JSON;
  if (!raw)
    throw new Error(
      'HERALD_ENV_JSON is not set: run integration tests through jest --selectProjects integration',
    );
  return JSON.parse(raw) as EnvEndpoints;
}

/** A name unique to this run, usable as a MySQL database, Kafka topic or Kubernetes name. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`.toLowerCase();
}

/** A database name for a test; the test user may create databases named herald_*. */
export function uniqueDatabase(prefix: string): string {
  return `herald_${uniqueName(prefix).replace(/-/g, '_')}`;
}
