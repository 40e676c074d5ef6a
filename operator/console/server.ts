// The console's listener: the page's static files (built by `npm run build` into dist/console,
// read once at start; nothing else on disk is reachable) and the JSON API under /api/. HTTPS
// with the operator's certificate files whenever the operator has them.
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { ServerResponse } from 'node:http';
import { startHttpServer } from '../../common/http/server';
import type { HttpServer } from '../../common/http/server';
import type { TlsFiles } from '../../common/grpc/credentials';
import { consoleApi } from './api';
import type { ConsoleApiDeps } from './api';

/** Where `npm run build` writes the page: dist/console beside the compiled operator, or of the checkout under ts-node. */
export const DEFAULT_CONSOLE_DIR = __filename.endsWith('.ts')
  ? join(__dirname, '..', '..', 'dist', 'console')
  : join(__dirname, '..', '..', 'console');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** The page may load only its own files and call only its own API; no framing, no referrer. */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

export interface ConsoleSetup {
  listen: string;
  tls: Required<TlsFiles> | undefined;
  dir: string;
  api: ConsoleApiDeps;
}

/** The page's files by URL path ("/app.js"); "/" is index.html. Throws when the build is missing. */
function loadFiles(dir: string): Map<string, { type: string; body: Buffer }> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    throw new Error(`the console's files are not at ${dir}: run npm run build (or give --console-dir)`);
  }
  if (!names.includes('index.html')) throw new Error(`${dir} has no index.html: run npm run build`);
  const files = new Map<string, { type: string; body: Buffer }>();
  for (const name of names) {
    const type = TYPES[extname(name)];
    if (type) files.set(`/${name}`, { type, body: readFileSync(join(dir, name)) });
  }
  files.set('/', files.get('/index.html')!);
  return files;
}

export async function startConsole(setup: ConsoleSetup): Promise<HttpServer> {
  const files = loadFiles(setup.dir);
  const api = consoleApi(setup.api);
  const page = (path: string, res: ServerResponse) => {
    const file = files.get(path);
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain', ...PAGE_HEADERS }).end('not found\n');
      return;
    }
    res
      .writeHead(200, { 'content-type': file.type, 'cache-control': 'no-cache', ...PAGE_HEADERS })
      .end(file.body);
  };
  return startHttpServer({
    listen: setup.listen,
    tls: setup.tls,
    clientCertificates: false,
    handler: (req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path.startsWith('/api/')) api(req, res);
      else if (req.method === 'GET' || req.method === 'HEAD') page(path, res);
      else res.writeHead(405, { 'content-type': 'text/plain', ...PAGE_HEADERS }).end('method not allowed\n');
    },
  });
}
