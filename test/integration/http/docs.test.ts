// Every plaintext curl example in docs/http.md runs, in order, against a real broker, and the
// answers shown in the page are the answers it gets, so the documentation cannot drift from
// the gateway. (The TLS and token examples run in security.test.ts.)
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { brokerOptions, dropTestDatabases, runBroker, testDatabase } from '../broker/helpers';
import type { Running } from '../broker/helpers';

const doc = readFileSync(join(__dirname, '..', '..', '..', 'docs', 'http.md'), 'utf8');
const blocks = [...doc.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1], text: m[2] }));
const examples = blocks
  .filter((b) => b.lang === 'sh')
  .flatMap((b) => b.text.split('\n'))
  .filter((line) => line.startsWith('curl ') && line.includes('http://127.0.0.1:7680'));

let running: Running;

beforeAll(async () => {
  running = await runBroker(brokerOptions(testDatabase('httpdocs'), [{ name: 'orders', partitions: 4 }]));
});
afterAll(async () => {
  await running?.stop();
  await dropTestDatabases();
});

function shell(command: string): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile('bash', ['-c', command], (err, stdout) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout }),
    );
  });
}

test('docs/http.md has curl examples', () => {
  expect(examples).toHaveLength(6);
});

test('every curl example in docs/http.md does what the text says', async () => {
  const out: string[] = [];
  for (const example of examples) {
    const r = await shell(example.replaceAll('127.0.0.1:7680', running.broker.httpAddress));
    expect({ example, code: r.code }).toEqual({ example, code: 0 });
    out.push(r.stdout);
  }
  const [one, batch, pull, ack, nack, error] = out;
  // The answers the page shows.
  const shown = blocks.filter((b) => b.lang === 'json' || b.lang === '');
  expect(JSON.parse(one)).toEqual(JSON.parse(shown[0].text));
  expect(JSON.parse(batch)).toMatchObject({
    partition: 0,
    results: [{ messageId: 'orders/0/2' }, { messageId: 'orders/0/3' }],
  });
  const pulled = JSON.parse(pull) as {
    messages: { offset: number; refKey: string; body: string; tags: string[] }[];
  };
  expect(pulled.messages.map((m) => [m.offset, m.refKey, Buffer.from(m.body, 'base64').toString()])).toEqual([
    [1, 'order-1', 'hello'],
    [2, 'order-2', 'world'],
    [3, 'order-3', 'hi'],
  ]);
  expect(pulled.messages[0].tags).toEqual(['vip']);
  expect(JSON.parse(ack)).toEqual({ committedOffset: 2 });
  expect(nack.trim()).toBe('204');
  const [head, body] = error.split('\r\n\r\n');
  const [shownHead, shownBody] = shown[1].text.split('\n\n');
  expect(head.split('\r\n')[0]).toBe(shownHead.split('\n')[0]);
  expect(head.toLowerCase()).toContain(shownHead.split('\n')[1]);
  expect(JSON.parse(body)).toEqual(JSON.parse(shownBody));
});
