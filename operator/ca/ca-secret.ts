// The operator's CA, kept in a Secret (tls.crt, tls.key) in the operator's namespace: read on
// first use, created when missing (by whichever leader gets there first: a create conflict
// means another replica made it, so it is read again).
import type { CoreV1Api } from '@kubernetes/client-node';
import { isConflict, readIfExists } from '../kube/client';
import { createCa } from './ca';
import type { KeyPair } from './ca';

/** The CA lives ten years; rotating it is a documented manual step (docs/security.md). */
const CA_DAYS = 3650;

export interface CaRef {
  namespace: string;
  name: string;
}

export class CaKeeper {
  private loaded: Promise<KeyPair> | undefined;

  constructor(
    private readonly core: CoreV1Api,
    readonly ref: CaRef,
  ) {}

  get(): Promise<KeyPair> {
    this.loaded ??= this.load().catch((err: unknown) => {
      this.loaded = undefined;
      throw err;
    });
    return this.loaded;
  }

  private async read(): Promise<KeyPair | undefined> {
    const s = await readIfExists(() => this.core.readNamespacedSecret(this.ref));
    if (!s) return undefined;
    const cert = s.data?.['tls.crt'];
    const key = s.data?.['tls.key'];
    if (!cert || !key)
      throw new Error(`Secret ${this.ref.namespace}/${this.ref.name} lacks tls.crt or tls.key`);
    return {
      cert: Buffer.from(cert, 'base64').toString('utf8'),
      key: Buffer.from(key, 'base64').toString('utf8'),
    };
  }

  private async load(): Promise<KeyPair> {
    const found = await this.read();
    if (found) return found;
    const ca = await createCa(`Herald CA ${this.ref.namespace}`, CA_DAYS);
    try {
      await this.core.createNamespacedSecret({
        namespace: this.ref.namespace,
        body: {
          metadata: { name: this.ref.name, labels: { 'app.kubernetes.io/managed-by': 'herald-operator' } },
          type: 'kubernetes.io/tls',
          stringData: { 'tls.crt': ca.cert, 'tls.key': ca.key },
        },
      });
      return ca;
    } catch (err) {
      if (!isConflict(err)) throw err;
      const raced = await this.read();
      if (!raced) throw err;
      return raced;
    }
  }
}
