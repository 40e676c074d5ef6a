// A push subscriber for tests: a real HTTP server on loopback that records every request,
// checks its signature with the function docs/push.md shows, and answers as the test says
// (per path): a status with headers, or 'hang' (no answer; the connection drops after 1 s).
// HTTPS when given a certificate.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, RequestListener } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export type Verifier = (header: string, body: Buffer, keys: Record<string, string>) => boolean;

/** The verification function of docs/push.md, as a subscriber would paste it. */
export function docsVerifier(): Verifier {
  const doc = readFileSync(join(__dirname, '..', '..', '..', 'docs', 'push.md'), 'utf8');
  const code = /```js\n([\s\S]*?)```/.exec(doc)![1];
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const load = new Function('require', `${code}\nreturn heraldSignatureValid;`) as (
    r: NodeJS.Require,
  ) => Verifier;
  return load(require);
}

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  at: number;
  /** What the subscriber answered (0: nothing yet, or the connection was dropped). */
  status: number;
}

export type Behaviour = (
  r: Received,
  attempt: number,
) => { status: number; headers?: Record<string, string>; delayMs?: number } | 'hang';

export interface Subscriber {
  /** http://127.0.0.1:<port> (https:// with a certificate) */
  url: string;
  received: Received[];
  behaviours: Map<string, Behaviour>;
  /** The most requests in flight at once per path and Herald-Partition ("/path/0"). */
  maxConcurrent: Map<string, number>;
  /** Requests whose signature the documented check refused. */
  badSignatures(): number;
  verify: Verifier;
  close(): Promise<void>;
}

const notFound: Behaviour = () => ({ status: 404 });

export async function startSubscriber(
  keys: Record<string, string>,
  tls?: { cert: string; key: string },
): Promise<Subscriber> {
  const verify = docsVerifier();
  const received: Received[] = [];
  const behaviours = new Map<string, Behaviour>();
  const inFlight = new Map<string, number>();
  const maxConcurrent = new Map<string, number>();
  let bad = 0;
  const handler: RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Received = {
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
        at: Date.now(),
        status: 0,
      };
      received.push(r);
      if (!verify(String(req.headers['herald-signature']), r.body, keys)) bad++;
      const slot = `${r.path}/${String(req.headers['herald-partition'])}`;
      inFlight.set(slot, (inFlight.get(slot) ?? 0) + 1);
      maxConcurrent.set(slot, Math.max(maxConcurrent.get(slot) ?? 0, inFlight.get(slot)!));
      const done = () => inFlight.set(slot, inFlight.get(slot)! - 1);
      const answer = (behaviours.get(r.path) ?? notFound)(r, Number(req.headers['herald-attempt']));
      if (answer === 'hang') {
        setTimeout(() => {
          done();
          res.destroy();
        }, 1000);
        return;
      }
      // A few milliseconds of work at least, so concurrent requests would overlap.
      setTimeout(() => {
        done();
        r.status = answer.status;
        res.writeHead(answer.status, answer.headers).end();
      }, answer.delayMs ?? 3);
    });
  };
  const server = tls ? createTlsServer(tls, handler) : createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    behaviours,
    maxConcurrent,
    badSignatures: () => bad,
    verify,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
