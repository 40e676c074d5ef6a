// `make demo` is the first thing a newcomer runs: examples/demo.sh end to end on the running
// environment (operator, brokers, the CLI round trip), then `--stop`.
import { spawn } from 'node:child_process';
import { join } from 'node:path';

jest.setTimeout(180_000);

const root = join(__dirname, '..', '..', '..');

function demo(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; output: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn('bash', [join(root, 'examples', 'demo.sh'), ...args], {
      cwd: root,
      env: { ...process.env, ...env },
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('exit', (code) => resolve({ code, output, ms: Date.now() - started }));
  });
}

afterAll(async () => {
  await demo(['--stop']);
});

test('the demo publishes and consumes through the CLI, then stops', async () => {
  const run = await demo([]);
  if (run.code !== 0) throw new Error(`demo failed:\n${run.output}`);
  expect(run.output).toContain('published 5 of 5 messages to orders');
  // At least what it published (an interrupted earlier run may have left more).
  expect(Number(/consumed (\d+) messages/.exec(run.output)?.[1])).toBeGreaterThanOrEqual(5);
  expect(run.output).toMatch(/MESSAGE-ID\s+PARTITION\s+OFFSET/);
  expect(run.output).toContain('Try next:');
  // Security is on: the CLI calls with demo-app's token; without one, or outside its rules, it is refused.
  expect(run.output).toMatch(/REFUSED \(publish without a token\): .*CREDENTIALS_MISSING/);
  expect(run.output).toMatch(/REFUSED \(lag of group audit[^)]*\): .*PERMISSION_DENIED/);
  // Warm environment: 35-45 s when the demo starts every process (README); the bound leaves
  // room for a busy machine.
  expect(run.ms).toBeLessThan(90_000);

  const stop = await demo(['--stop']);
  expect(stop.code).toBe(0);
  expect(stop.output).toMatch(/stopped demo-operator/);
  expect(stop.output).toMatch(/stopped demo-broker-0/);
});

test('a failing step stops the demo with the step named, its logs and how to clean up', async () => {
  const run = await demo([], { HERALD_DEMO_NAMESPACE: 'Not_A_Namespace' });
  expect(run.code).toBe(1);
  expect(run.output).toContain('ERROR: the demo failed at: 2/7 CRDs, namespace Not_A_Namespace');
  expect(run.output).toContain('Stop what was started with: examples/demo.sh --stop');
  expect(run.output).not.toContain('Try next:');
});
