// Every plaintext grpcurl example in docs/clients.md runs, in order, against a real broker, so
// the documentation cannot drift from the server. (The TLS and token examples run against a
// secure broker in test/integration/security/broker-security.test.ts.)
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { testEnv } from '../env';
import { brokerOptions, dropTestDatabases, runBroker, testDatabase } from '../broker/helpers';
import type { Running } from '../broker/helpers';

const doc = readFileSync(join(__dirname, '..', '..', '..', 'docs', 'clients.md'), 'utf8');
const examples = [...doc.matchAll(/```sh\n([\s\S]*?)```/g)]
  .flatMap((m) => m[1].split('\n'))
  .filter((line) => line.startsWith('grpcurl -plaintext '));

let running: Running;

beforeAll(async () => {
  running = await runBroker(brokerOptions(testDatabase('docs'), [{ name: 'orders', partitions: 4 }]));
});
afterAll(async () => {
  await running?.stop();
  await dropTestDatabases();
});

function shell(command: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, PATH: `${testEnv().binDir}:${process.env.PATH ?? ''}` };
  return new Promise((resolve) => {
    execFile('bash', ['-c', command], { env }, (err, stdout, stderr) => {
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('docs/clients.md has grpcurl examples', () => {
  expect(examples.length).toBeGreaterThanOrEqual(8);
});

test('every grpcurl example in docs/clients.md does what the text says', async () => {
  const outputs: string[] = [];
  for (const example of examples) {
    const r = await shell(example.replaceAll('127.0.0.1:7600', running.broker.address));
    const failing = example.includes('no-such-topic');
    expect({ example, code: r.code === 0 ? 0 : 'failed' }).toEqual({ example, code: failing ? 'failed' : 0 });
    outputs.push(r.stdout + r.stderr);
  }
  const [list, describe, health, keyed, explicit, pull, ack, lag, error] = outputs;
  expect(list.split('\n')).toEqual(expect.arrayContaining(['herald.v1.Broker', 'herald.v1.Admin']));
  expect(describe).toContain('rpc Publish');
  expect(JSON.parse(health)).toEqual({ status: 'SERVING' });
  expect(JSON.parse(keyed)).toMatchObject({ topic: 'orders', results: [{ offset: '1' }, { offset: '2' }] });
  expect(JSON.parse(keyed)).not.toHaveProperty('partition'); // partition 0, left out as a default
  expect(JSON.parse(explicit)).toMatchObject({ partition: 1, results: [{ offset: '1' }] });
  const pulled = JSON.parse(pull) as { messages: { offset: string; refKey: string; body: string }[] };
  expect(pulled.messages.map((m) => [m.offset, m.refKey, m.body])).toEqual([
    ['1', 'order-1', 'aGVsbG8='],
    ['2', 'order-2', 'd29ybGQ='],
  ]);
  expect(JSON.parse(ack)).toEqual({ committedOffset: '1' });
  expect(lag).toContain('"committedOffset": "1"');
  expect(JSON.parse(error)).toMatchObject({
    code: 5,
    details: [
      {
        '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
        domain: 'herald.dev',
        reason: 'TOPIC_NOT_FOUND',
      },
    ],
  });
});
