// The images, built the way a container builder builds them (this machine has no container
// engine; images/dockerfile.ts reproduces one): the build context is the repository filtered by
// .dockerignore, the build stage gets only what its COPY lines copy into an empty directory and
// runs the Dockerfile's own RUN commands there (npm ci, npm run build, npm prune), the runtime
// stage copies its parts from it, and each target's CMD starts from the result until it answers
// grpc.health.v1. A folder the build needs but the Dockerfile or .dockerignore leaves out fails
// the build here. hadolint passes the Dockerfile.
import { execFile, spawn } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { dropTestDatabases, healthStatus, mysqlUrl, testDatabase } from '../broker/helpers';
import { testEnv, uniqueName } from '../env';
import { waitFor } from '../wait';
import { DockerIgnore, buildContext, buildStages, readImageFiles } from './dockerfile';
import type { Built } from './dockerfile';

const root = join(__dirname, '..', '..', '..');
let stages: Map<string, Built>;

function stage(name: string): Built {
  const s = stages.get(name);
  if (!s) throw new Error(`the Dockerfile has no stage ${name}`);
  return s;
}

beforeAll(() => {
  const { dockerfile, ignore } = readImageFiles(root);
  stages = buildStages(dockerfile, root, buildContext(root, ignore));
}, 600_000);

afterAll(async () => {
  for (const root of new Set([...(stages?.values() ?? [])].map((s) => s.root)))
    rmSync(root, { recursive: true, force: true });
  await dropTestDatabases();
});

test('.dockerignore is read the way builders read it', () => {
  const ignore = new DockerIgnore('# comment\n*\n!src/\nsrc/gen/\n**/*.test.ts\n!src/keep.test.ts\n');
  expect(
    ['README.md', 'src/a.ts', 'src/gen/x.ts', 'src/b/c.test.ts', 'src/keep.test.ts', 'srcx/a.ts'].map((p) => [
      p,
      ignore.excluded(p),
    ]),
  ).toEqual([
    ['README.md', true],
    ['src/a.ts', false],
    ['src/gen/x.ts', true],
    ['src/b/c.test.ts', true],
    ['src/keep.test.ts', false],
    ['srcx/a.ts', true],
  ]);
  expect([ignore.mayReinclude('node_modules'), ignore.mayReinclude('src')]).toEqual([false, true]);
});

test('hadolint passes the Dockerfile', async () => {
  const hadolint = join(testEnv().binDir, '..', 'python', 'bin', 'hadolint');
  const r = await new Promise<{ code: number; out: string }>((resolve) =>
    execFile(hadolint, ['Dockerfile'], { cwd: root }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, out: stdout + stderr }),
    ),
  );
  expect(r).toEqual({ code: 0, out: '' });
});

test('the runtime holds production dependencies only, and no sources', () => {
  const app = join(stage('runtime').root, stage('runtime').workdir);
  expect(existsSync(join(app, 'node_modules', '@grpc', 'grpc-js'))).toBe(true);
  for (const absent of ['typescript', 'jest', 'ts-jest', 'eslint', 'ts-node'].map(
    (d) => `node_modules/${d}`,
  )) {
    expect({ absent, present: existsSync(join(app, absent)) }).toEqual({ absent, present: false });
  }
  for (const absent of ['broker', 'common', 'dist/test', 'proto/gen']) {
    expect({ absent, present: existsSync(join(app, absent)) }).toEqual({ absent, present: false });
  }
});

/** Starts a target's CMD with node (the distroless image's entrypoint), in its working directory. */
function start(target: string, args: string[], stdout: 'pipe' | 'ignore', stderr: 'pipe' | 'ignore') {
  const t = stage(target);
  return spawn('node', [...t.cmd, ...args], {
    cwd: join(t.root, t.workdir),
    env: { PATH: process.env.PATH, ...t.env },
    stdio: ['ignore', stdout, stderr],
  });
}

test("the broker target's CMD serves", async () => {
  const config = join(stage('broker').root, 'broker.json');
  writeFileSync(
    config,
    JSON.stringify({
      listen: '127.0.0.1:0',
      metricsListen: '127.0.0.1:0',
      httpListen: '127.0.0.1:0',
      mysql: { url: mysqlUrl(testDatabase('image')) },
      topics: [{ name: 'orders', partitions: 2 }],
    }),
  );
  const child = start('broker', ['--config', config], 'ignore', 'pipe');
  const exited = new Promise((resolve) => child.on('exit', resolve));
  try {
    const address = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stderr! }).on('line', (line) => {
        const m = /"address":"([^"]+)"/.exec(line);
        if (m) resolve(m[1]);
      });
      child.on('exit', (code) => reject(new Error(`broker exited with ${code}`)));
    });
    await waitFor('the broker to serve', async () =>
      (await healthStatus(address).catch(() => '')) === 'SERVING' ? true : undefined,
    );
  } finally {
    child.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
});

test("the operator target's CMD answers health on its meta-server", async () => {
  const child = start(
    'operator',
    [
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
      '--metrics-listen',
      '127.0.0.1:0',
    ],
    'pipe',
    'ignore',
  );
  const exited = new Promise((resolve) => child.on('exit', resolve));
  try {
    const started = await new Promise<Record<string, unknown>>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) =>
        resolve(JSON.parse(line) as Record<string, unknown>),
      );
      child.on('exit', (code) => reject(new Error(`operator exited with ${code}`)));
    });
    expect(started).toMatchObject({ event: 'started' });
    const address = String(started.metaAddress);
    const status = await waitFor(
      'the meta-server to answer health',
      async () => (await healthStatus(address).catch(() => undefined)) ?? undefined,
    );
    expect(['SERVING', 'NOT_SERVING']).toContain(status);
  } finally {
    child.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
});
