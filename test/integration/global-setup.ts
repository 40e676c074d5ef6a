// Brings the local environment up once for the whole integration run (or reuses a running
// one; test/env/up.sh is idempotent) and hands its endpoints to the test files through the
// environment, which the Jest workers inherit. HERALD_ENV_PARTS=none starts nothing, for test
// files that need no environment (test/integration/edge/).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EnvEndpoints } from './env';

export default function globalSetup(): void {
  const root = join(__dirname, '..', '..');
  const parts = (process.env.HERALD_ENV_PARTS ?? 'mariadb kafka k8s cli clients chromium')
    .split(/\s+/)
    .filter(Boolean);
  if (parts.join(' ') === 'none') return;
  execFileSync('bash', [join(root, 'test', 'env', 'up.sh'), ...parts], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const state =
    process.env.HERALD_STATE ??
    join(process.env.XDG_STATE_HOME ?? join(process.env.HOME ?? '/root', '.local', 'state'), 'herald');
  const env = JSON.parse(readFileSync(join(state, 'env.json'), 'utf8')) as EnvEndpoints;
  process.env.HERALD_ENV_JSON = JSON.stringify(env);
  process.env.KUBECONFIG = env.kubeconfig;
  process.env.PATH = `${env.binDir}:${process.env.PATH ?? ''}`;
}
