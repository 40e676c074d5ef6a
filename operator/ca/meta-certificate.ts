// The meta-server's own certificate, from the operator's CA: issued at start into a directory
// (an emptyDir in a pod) as ca.crt, tls.crt and tls.key, and issued again at two thirds of its
// life. The listener's file watcher (common/grpc/credentials.ts) picks up each new pair.
import { chmodSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../common/logger';
import type { TlsFiles } from '../../common/grpc/credentials';
import { SERVER_SUBJECT_PREFIX } from '../../common/security/authenticator';
import { issue, renewAt, validityOf } from './ca';
import type { KeyPair } from './ca';

export const META_CERTIFICATE_DAYS = 30;
/** The default lifetime, in seconds (the operator's --meta-certificate-lifetime-seconds). */
export const META_CERTIFICATE_SECONDS = META_CERTIFICATE_DAYS * 86_400;
/** Valid from this long before it is issued, for clocks slightly behind ours. */
const BACKDATE_MS = 3_600_000;

export interface MetaCertificateOptions {
  /** The CA's certificate and key (CaKeeper.get). */
  ca: () => Promise<KeyPair>;
  dir: string;
  /** The operator's namespace: the CN is herald:server:meta:<namespace>. */
  namespace: string;
  /** The names brokers and clients dial (the meta Service), and the replica's own address. */
  dnsNames: string[];
  ipAddresses: string[];
  logger: Logger;
  /** How long each certificate is valid from its issue (default META_CERTIFICATE_SECONDS). */
  lifetimeSeconds?: number;
  /** After a failed renewal, the next try (default 1 min). */
  retryMs?: number;
}

/** Writes `content` so that a reader sees the old file or the new one, never half of one. */
function replace(path: string, content: string, mode: number): void {
  writeFileSync(`${path}.tmp`, content, { mode });
  chmodSync(`${path}.tmp`, mode);
  renameSync(`${path}.tmp`, path);
}

/** Where the files of a directory's certificate are. */
export function metaCertificateFiles(dir: string): Required<Omit<TlsFiles, 'refreshMs'>> {
  return { caFile: join(dir, 'ca.crt'), certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') };
}

export class MetaCertificate {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  private constructor(
    private readonly o: MetaCertificateOptions,
    readonly files: Required<Omit<TlsFiles, 'refreshMs'>>,
  ) {}

  /** Issues the first certificate (throws when it cannot) and schedules its renewals. */
  static async start(o: MetaCertificateOptions): Promise<MetaCertificate> {
    mkdirSync(o.dir, { recursive: true, mode: 0o700 });
    const m = new MetaCertificate(o, metaCertificateFiles(o.dir));
    await m.renew();
    return m;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async renew(): Promise<void> {
    const ca = await this.o.ca();
    const now = Date.now();
    const notAfter = new Date(now + (this.o.lifetimeSeconds ?? META_CERTIFICATE_SECONDS) * 1000);
    const pair = await issue(ca, {
      commonName: `${SERVER_SUBJECT_PREFIX}meta:${this.o.namespace}`,
      dnsNames: this.o.dnsNames,
      ipAddresses: this.o.ipAddresses,
      server: true,
      days: META_CERTIFICATE_DAYS,
      validity: { notBefore: new Date(now - BACKDATE_MS), notAfter },
    });
    // Each file is replaced whole; the pair changes between two reads of the watcher at worst.
    replace(this.files.caFile, ca.cert, 0o644);
    replace(this.files.keyFile, pair.key, 0o600);
    replace(this.files.certFile, pair.cert, 0o644);
    // Two thirds of its life counted from its issue, not from the backdated notBefore (which
    // would put a short-lived certificate's renewal in the past).
    this.schedule(
      renewAt({ notBefore: new Date(now), notAfter: validityOf(pair.cert).notAfter }).getTime() - Date.now(),
    );
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    // setTimeout holds at most 2^31-1 ms (about 24 days); renewing earlier than due is harmless.
    const wait = Math.min(Math.max(ms, 0), 2 ** 31 - 1);
    this.timer = setTimeout(() => {
      this.renew().catch((err: unknown) => {
        this.o.logger.error('renewing the meta-server certificate failed; retrying', { err });
        this.schedule(this.o.retryMs ?? 60_000);
      });
    }, wait);
    this.timer.unref();
  }
}
