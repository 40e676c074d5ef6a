// What can be checked of the images without a container engine: hadolint passes the
// Dockerfile, and the runtime stage's contents, rebuilt here the way the Dockerfile builds
// them (compiled dist/, the .proto files, production dependencies only), start a broker that
// serves and an operator that starts, both from their image entrypoints.
import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { mysqlUrl, testDatabase, dropTestDatabases } from '../broker/helpers';
import { testEnv, uniqueName } from '../env';
import { runTool } from '../exec';
import { waitFor } from '../wait';

const root = join(__dirname, '..', '..', '..');
const app = mkdtempSync(join(tmpdir(), 'herald-image-'));

function sh(cmd: string, args: string[], cwd: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, out: stdout + stderr }),
    );
  });
}

/** The CMD of a target of the Dockerfile, e.g. ["dist/broker/main.js"]. */
function entrypoint(target: string): string[] {
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const stage = dockerfile
    .split(/^FROM /m)
    .find((s) => new RegExp(`AS ${target}\\s*$`, 'm').test(s.split('\n')[0]));
  const cmd = stage?.match(/^CMD (\[.*\])$/m)?.[1];
  if (!cmd) throw new Error(`no CMD for target ${target}`);
  return JSON.parse(cmd) as string[];
}

beforeAll(async () => {
  for (const f of ['package.json', 'package-lock.json']) cpSync(join(root, f), join(app, f));
  const install = await sh('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], app);
  expect(install.code === 0 ? 'installed' : install.out).toBe('installed');
  const build = await sh(
    join(root, 'node_modules', '.bin', 'tsc'),
    ['-p', join(root, 'tsconfig.build.json'), '--outDir', join(app, 'dist')],
    root,
  );
  expect({ code: build.code, out: build.out }).toEqual({ code: 0, out: '' });
  for (const dir of ['herald', 'google'])
    cpSync(join(root, 'proto', dir), join(app, 'proto', dir), { recursive: true });
}, 300_000);

afterAll(dropTestDatabases);

test('hadolint passes the Dockerfile', async () => {
  const hadolint = join(testEnv().binDir, '..', 'python', 'bin', 'hadolint');
  const r = await sh(hadolint, ['Dockerfile'], root);
  expect({ code: r.code, out: r.out }).toEqual({ code: 0, out: '' });
});

test('the runtime holds production dependencies only', () => {
  expect(existsSync(join(app, 'node_modules', '@grpc', 'grpc-js'))).toBe(true);
  for (const dev of ['typescript', 'jest', 'ts-jest', 'eslint', 'ts-node']) {
    expect({ dev, present: existsSync(join(app, 'node_modules', dev)) }).toEqual({ dev, present: false });
  }
});

test("the broker image's entrypoint serves", async () => {
  const database = testDatabase('image');
  const config = join(app, 'broker.json');
  writeFileSync(
    config,
    JSON.stringify({
      listen: '127.0.0.1:0',
      metricsListen: '127.0.0.1:0',
      mysql: { url: mysqlUrl(database) },
      topics: [{ name: 'orders', partitions: 2 }],
    }),
  );
  const child = spawn('node', [...entrypoint('broker'), '--config', config], {
    cwd: app,
    env: { ...process.env, NODE_ENV: 'production' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const address = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stderr }).on('line', (line) => {
      const m = /"address":"([^"]+)"/.exec(line);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`broker exited with ${code}`)));
  });
  try {
    await waitFor('the broker to serve', async () => {
      const r = await runTool('grpcurl', [
        '-plaintext',
        '-d',
        '{"service":""}',
        address,
        'grpc.health.v1.Health/Check',
      ]);
      return r.stdout.includes('SERVING') ? true : undefined;
    });
  } finally {
    child.kill('SIGTERM');
  }
  expect(await new Promise((resolve) => child.on('exit', resolve))).toBe(0);
});

test("the operator image's entrypoint starts its meta-server", async () => {
  const child = spawn(
    'node',
    [
      ...entrypoint('operator'),
      '--kubeconfig',
      testEnv().kubeconfig,
      '--lease-namespace',
      'default',
      '--lease-name',
      uniqueName('image-operator'),
      '--watch-namespace',
      uniqueName('image-none'),
      '--meta-listen',
      '127.0.0.1:0',
    ],
    { cwd: app, env: { ...process.env, NODE_ENV: 'production' }, stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const started = await new Promise<Record<string, unknown>>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) =>
      resolve(JSON.parse(line) as Record<string, unknown>),
    );
    child.on('exit', (code) => reject(new Error(`operator exited with ${code}`)));
  });
  child.kill('SIGTERM');
  expect(started).toMatchObject({ event: 'started' });
  expect(await new Promise((resolve) => child.on('exit', resolve))).toBe(0);
});
