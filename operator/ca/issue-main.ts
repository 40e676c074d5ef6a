// Issues a Herald server certificate from the operator's CA into a kubernetes.io/tls Secret
// (tls.crt, tls.key, ca.crt) and writes the files into a directory: for brokers that run
// outside the cluster and listen where the pool's own certificate does not name them (the
// demo's brokers on 127.0.0.1), used through the pool's security.tls.secretName.
//
//   node operator/ca/issue-main.ts <namespace> <secret> <dir> [--kubeconfig f] [--ca-secret herald-ca]
//     [--pool default] [--ip 127.0.0.1] [--dns localhost]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CoreV1Api } from '@kubernetes/client-node';
import { loadKubeConfig } from '../../common/kube/config';
import { brokerServerSubject } from '../../common/security/authenticator';
import { isNotFound } from '../kube/client';
import { issue } from './ca';
import { CaKeeper } from './ca-secret';

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      kubeconfig: { type: 'string' },
      'ca-secret': { type: 'string', default: 'herald-ca' },
      pool: { type: 'string', default: 'default' },
      ip: { type: 'string', default: '127.0.0.1' },
      dns: { type: 'string', default: 'localhost' },
    },
  });
  const [namespace, name, dir] = positionals;
  if (!namespace || !name || !dir)
    throw new Error('usage: issue-main.ts <namespace> <secret> <dir> [options]');
  const core = loadKubeConfig(values.kubeconfig ?? process.env.KUBECONFIG).makeApiClient(CoreV1Api);
  const ca = await new CaKeeper(core, { namespace, name: values['ca-secret'] }).get();
  const pair = await issue(ca, {
    commonName: brokerServerSubject(namespace, values.pool),
    dnsNames: [values.dns],
    ipAddresses: [values.ip],
    server: true,
    days: 30,
  });
  const data = { 'tls.crt': pair.cert, 'tls.key': pair.key, 'ca.crt': ca.cert };
  const body = { metadata: { name, namespace }, type: 'kubernetes.io/tls', stringData: data };
  try {
    await core.replaceNamespacedSecret({ namespace, name, body });
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await core.createNamespacedSecret({ namespace, body });
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const [file, content] of Object.entries(data))
    writeFileSync(join(dir, file), content, { mode: file === 'tls.key' ? 0o600 : 0o644 });
}

main().catch((err: unknown) => {
  process.stderr.write(
    `issuing the certificate failed: ${err instanceof Error ? err.message : String(err)}\n`,
  );
  process.exit(1);
});
