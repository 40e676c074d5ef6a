// Builds the console's page into dist/console (served by the operator, operator/console/server.ts):
// web/app.ts and its imports (uPlot, yaml) bundled by esbuild into app.js and app.css, and
// index.html. Everything the page loads comes from this directory.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'dist', 'console');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: join(here, 'app.ts') },
  bundle: true,
  minify: true,
  sourcemap: false,
  target: ['es2022'],
  outdir: out,
  logLevel: 'warning',
});
copyFileSync(join(here, 'index.html'), join(out, 'index.html'));
