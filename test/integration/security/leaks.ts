// The security suites' last check: no token or private key in any log or any non-Secret object
// the suite wrote. What is looked for: the credentials the suite made itself (tokens from
// `kubectl create token`, keys it issued) and every credential in the Secrets of its namespaces
// (HeraldUser tokens and keys, certificate keys, the CA's key); certificates are public and
// not looked for. Where: the logs the suite captured (in-process brokers, spawned brokers'
// stderr), every operator log of those namespaces (spawnOperator writes them to the
// environment's log directory), and every object of every listable kind in those namespaces
// but Secrets, plus the ClusterRoles and ClusterRoleBindings, as JSON.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '../../../common/logger';
import type { Logger } from '../../../common/logger';
import { kube } from '../operator/helpers';
import { runTool } from '../exec';
import { testEnv } from '../env';

const PUBLIC_KEYS = new Set(['ca.crt', 'tls.crt']);

/** A logger that keeps every line (debug included) in `lines`, to be searched. */
export function capturingLogger(lines: string[]): Logger {
  return createLogger({ debug: '*', write: (line: string) => void lines.push(line) });
}

/** What to look for of a credential: a PEM key's first body line (JSON escapes its newlines). */
function needle(credential: string): string {
  return credential.includes('PRIVATE KEY') ? credential.split('\n')[1] : credential;
}

async function kubectl(args: string[]): Promise<string> {
  const r = await runTool('kubectl', args);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Throws naming where a credential appears; `logs` are [name, text] pairs. */
export async function expectNoCredentials(o: {
  namespaces: string[];
  credentials: string[];
  logs: [string, string][];
}): Promise<void> {
  const credentials = [...o.credentials];
  for (const namespace of o.namespaces) {
    for (const s of (await kube().core.listNamespacedSecret({ namespace })).items)
      for (const [key, value] of Object.entries(s.data ?? {}))
        if (!PUBLIC_KEYS.has(key)) credentials.push(Buffer.from(value, 'base64').toString('utf8'));
  }
  const needles = credentials.filter((c) => c.length >= 16).map(needle);
  if (needles.length === 0) throw new Error('no credentials to look for: the check would prove nothing');

  const haystacks: [string, string][] = [...o.logs];
  const logDir = testEnv().logDir;
  for (const f of readdirSync(logDir).filter((n) => o.namespaces.some((ns) => n.includes(ns))))
    haystacks.push([f, readFileSync(join(logDir, f), 'utf8')]);
  const kinds = (await kubectl(['api-resources', '--verbs=list', '--namespaced', '-o', 'name']))
    .split('\n')
    .filter((k) => k !== '' && k !== 'secrets');
  for (const namespace of o.namespaces)
    haystacks.push([
      `objects of ${namespace}`,
      await kubectl(['-n', namespace, 'get', kinds.join(','), '-o', 'json']),
    ]);
  haystacks.push(['cluster RBAC', await kubectl(['get', 'clusterroles,clusterrolebindings', '-o', 'json'])]);

  for (const [where, text] of haystacks) {
    if (text.includes('PRIVATE KEY')) throw new Error(`a private key appears in ${where}`);
    for (const n of needles) if (text.includes(n)) throw new Error(`a credential appears in ${where}`);
  }
}
