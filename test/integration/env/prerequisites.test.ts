// The environment scripts name a missing prerequisite instead of failing somewhere later.
// Each case runs a script with a PATH that holds only the basic shell tools.
import { execFile } from 'node:child_process';
import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const envDir = join(__dirname, '..', '..', 'env');
const basics = [
  'bash',
  'cat',
  'cut',
  'date',
  'dirname',
  'mkdir',
  'sha256sum',
  'touch',
  'rm',
  'id',
  'sleep',
  'tail',
];

function minimalPath(): string {
  const bin = mkdtempSync(join(tmpdir(), 'herald-path-'));
  for (const tool of basics) symlinkSync(`/usr/bin/${tool}`, join(bin, tool));
  return bin;
}

function runScript(script: string, args: string[]): Promise<{ code: number; stderr: string }> {
  const scratch = mkdtempSync(join(tmpdir(), 'herald-env-'));
  const env = {
    PATH: minimalPath(),
    HOME: scratch,
    HERALD_CACHE: join(scratch, 'cache'),
    HERALD_STATE: join(scratch, 'state'),
  };
  return new Promise((resolve) => {
    execFile('/usr/bin/bash', [join(envDir, script), ...args], { env }, (err, _stdout, stderr) => {
      resolve({ code: err ? Number(err.code ?? 1) : 0, stderr });
    });
  });
}

test.each([
  ['tools.sh', ['kafka'], 'java'],
  ['tools.sh', ['k8s'], 'go'],
  ['tools.sh', ['cli'], 'go'],
])('%s %s names the missing %s', async (script, args, missing) => {
  const r = await runScript(script, args);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain(`missing prerequisite '${missing}'`);
});

test('up.sh refuses an unknown part by name', async () => {
  const r = await runScript('tools.sh', ['zookeeper']);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain("unknown part 'zookeeper'");
});
