// The MySQL URL of a pool, read from the Secret its spec names (never copied anywhere else).
import type { CoreV1Api } from '@kubernetes/client-node';
import type { BrokerPool } from '../gen/crds';
import { TerminalError } from './controller';

export async function poolMysqlUrl(core: CoreV1Api, pool: BrokerPool): Promise<string> {
  const ref = pool.spec.storage.mysql?.secretRef;
  const namespace = pool.metadata?.namespace ?? '';
  if (!ref) throw new TerminalError(`BrokerPool ${pool.metadata?.name ?? ''} has no MySQL storage`);
  const secret = await core.readNamespacedSecret({ name: ref.name, namespace });
  const value = secret.data?.[ref.key] ?? '';
  if (value === '') throw new Error(`Secret ${namespace}/${ref.name} has no key ${ref.key}`);
  return Buffer.from(value, 'base64').toString('utf8');
}
