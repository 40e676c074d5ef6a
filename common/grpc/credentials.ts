// TLS and call credentials for every Herald listener and channel. Certificates and keys are
// read from files and re-read every `refreshMs` by grpc-js's FileWatcherCertificateProvider,
// so a rotated Secret (kubelet swaps the mounted files) is served without a restart, on
// listeners and channels alike.
import * as grpc from '@grpc/grpc-js';
import { readFileSync, statSync } from 'node:fs';

export interface TlsFiles {
  /** PEM CA bundle: whom to trust (servers: which client certificates; clients: which servers). */
  caFile: string;
  /** PEM certificate chain and key of this side; a server needs them, a client only for mTLS. */
  certFile?: string;
  keyFile?: string;
  /** How often the files are re-read (default 10 s). */
  refreshMs?: number;
}

export const DEFAULT_TLS_REFRESH_MS = 10_000;

const provider = (files: TlsFiles) =>
  new grpc.experimental.FileWatcherCertificateProvider({
    caCertificateFile: files.caFile,
    certificateFile: files.certFile,
    privateKeyFile: files.keyFile,
    refreshIntervalMs: files.refreshMs ?? DEFAULT_TLS_REFRESH_MS,
  });

/**
 * A listener's credentials: plaintext without `tls`; otherwise TLS that asks for, but does not
 * require, a client certificate signed by the CA (callers may use a token instead; the
 * authentication interceptor decides).
 */
export function serverCredentials(tls: TlsFiles | undefined): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  if (!tls.certFile || !tls.keyFile) throw new Error('a TLS listener needs certFile and keyFile');
  const files = provider(tls);
  return grpc.experimental.createCertificateProviderServerCredentials(files, files, false);
}

/** A bearer token: fixed, or read from a file (re-read when the file changes, e.g. a projected ServiceAccount token). */
export type TokenSource = { token: string } | { tokenFile: string };

/** What a client presents and whom it trusts. */
export interface ClientSecurity {
  /** TLS; without it the channel is plaintext (and can carry no token). */
  tls?: TlsFiles;
  /** Sent as `authorization: Bearer <token>` on every call. */
  auth?: TokenSource;
}

/** Reads a token file again only when its modification time or size changes. */
export function fileToken(path: string): () => string {
  let seen = '';
  let token = '';
  return () => {
    const st = statSync(path);
    const version = `${st.mtimeMs}:${st.size}:${st.ino}`;
    if (version !== seen) {
      token = readFileSync(path, 'utf8').trim();
      seen = version;
    }
    return token;
  };
}

/** The current token of a source (a file is re-read when it changes); undefined without one. */
export function tokenReader(auth: TokenSource | undefined): (() => string) | undefined {
  if (!auth) return undefined;
  return 'token' in auth ? () => auth.token : fileToken(auth.tokenFile);
}

export function channelCredentials(security: ClientSecurity | undefined): grpc.ChannelCredentials {
  if (!security?.tls) {
    if (security?.auth) throw new Error('a token is sent only over TLS: give tls.caFile as well');
    return grpc.credentials.createInsecure();
  }
  const files = provider(security.tls);
  const channel = grpc.experimental.createCertificateProviderChannelCredentials(
    files,
    security.tls.certFile ? files : null,
  );
  const token = tokenReader(security.auth);
  if (!token) return channel;
  const call = grpc.credentials.createFromMetadataGenerator((_params, callback) => {
    const metadata = new grpc.Metadata();
    try {
      metadata.set('authorization', `Bearer ${token()}`);
      callback(null, metadata);
    } catch (err) {
      callback(err as Error);
    }
  });
  return grpc.credentials.combineChannelCredentials(channel, call);
}
