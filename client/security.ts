// What the SDK presents and whom it trusts, from its options and, in a pod, from the usual
// paths: the CA bundle and a projected ServiceAccount token (audience herald) mounted where
// the chart's examples mount them. A token file is re-read whenever it changes (kubelet
// refreshes projected tokens before they expire).
import { existsSync } from 'node:fs';
import type { ClientSecurity, TlsFiles } from '../common/grpc/credentials';
import { OptionsError } from '../common/options';

/** Where a pod mounts Herald's CA bundle (docs/security.md). */
export const DEFAULT_CA_FILE = '/var/run/secrets/herald.dev/ca.crt';
/** Where a pod mounts its projected ServiceAccount token with audience herald. */
export const DEFAULT_TOKEN_FILE = '/var/run/secrets/herald.dev/serviceaccount/token';

export interface SecurityInput {
  /** The CA bundle that signed the servers' certificates; TLS is on when set (or found). */
  caFile?: string;
  /** A client certificate and key (a HeraldUser of authentication type tls). */
  certFile?: string;
  keyFile?: string;
  /** A bearer token (a HeraldUser token, or a ServiceAccount token)... */
  token?: string;
  /** ...or a file holding one. */
  tokenFile?: string;
}

/** The security of a connection: explicit options first, then the in-pod defaults. */
export function clientSecurity(
  input: SecurityInput,
  exists: (path: string) => boolean = existsSync,
): ClientSecurity | undefined {
  if (input.token !== undefined && input.tokenFile !== undefined)
    throw new OptionsError('token and tokenFile', 'must not both be set');
  if ((input.certFile === undefined) !== (input.keyFile === undefined))
    throw new OptionsError('certFile and keyFile', 'must be set together');
  const caFile = input.caFile ?? (exists(DEFAULT_CA_FILE) ? DEFAULT_CA_FILE : undefined);
  const auth =
    input.token !== undefined
      ? { token: input.token }
      : input.tokenFile !== undefined
        ? { tokenFile: input.tokenFile }
        : input.certFile === undefined && exists(DEFAULT_TOKEN_FILE)
          ? { tokenFile: DEFAULT_TOKEN_FILE }
          : undefined;
  if (caFile === undefined) {
    if (auth || input.certFile)
      throw new OptionsError(
        'caFile',
        'must be set with a token or a client certificate (they travel over TLS only)',
      );
    return undefined;
  }
  const tls: TlsFiles = {
    caFile,
    ...(input.certFile ? { certFile: input.certFile, keyFile: input.keyFile } : {}),
  };
  return auth ? { tls, auth } : { tls };
}
