import { createHmac } from 'node:crypto';
import { BATCH_CONTENT_TYPE, pushRequest } from '../../../../broker/push/push-request';
import { resolveGroupPolicy } from '../../../../common/group-policy';
import type { PushPolicy } from '../../../../common/group-policy';
import { OptionsError } from '../../../../common/options';

const policy = (batch?: { maxMessages: number }): PushPolicy =>
  resolveGroupPolicy({
    push: {
      url: 'http://127.0.0.1:1/hook',
      signingKey: 'sixteen-bytes-key!',
      keyId: 'k1',
      headers: { Authorization: 'Bearer x' },
      ...(batch ? { batch } : {}),
    },
  }).push!;

const message = (offset: number, body: string) => ({
  message: {
    offset,
    publishedAt: 1_700_000_000_000,
    key: 'customer 17',
    refKey: 'order/9',
    tags: ['eu', 'vip'],
    properties: { source: 'web app' },
    body: Buffer.from(body),
    priority: false,
  },
  attempt: 2,
});

function verify(header: string, body: Buffer, key: string): boolean {
  const f = new Map(header.split(',').map((p) => p.split('=', 2) as [string, string]));
  return (
    f.get('v1') ===
    createHmac('sha256', key)
      .update(`${f.get('t')}.`)
      .update(body)
      .digest('hex')
  );
}

describe('push requests', () => {
  test('one message: its payload as the body, its metadata in headers, signed', () => {
    const req = pushRequest(
      'hook',
      { topic: 'orders', partition: 3 },
      [message(41, 'hello')],
      policy(),
      1234,
    );
    expect(req.body.toString()).toBe('hello');
    expect(req.headers).toMatchObject({
      Authorization: 'Bearer x',
      'Content-Type': 'application/octet-stream',
      'Herald-Message-Id': 'orders/3/41',
      'Herald-Topic': 'orders',
      'Herald-Partition': '3',
      'Herald-Offset': '41',
      'Herald-Group': 'hook',
      'Herald-Attempt': '2',
      'Herald-Key': 'customer%2017',
      'Herald-Ref-Key': 'order%2F9',
      'Herald-Tags': 'eu,vip',
      'Herald-Property': ['source=web%20app'],
      'Herald-Published-At': '1700000000000',
    });
    const sig = req.headers['Herald-Signature'] as string;
    expect(sig).toMatch(/^t=1234,kid=k1,v1=[0-9a-f]{64}$/);
    expect(verify(sig, req.body, 'sixteen-bytes-key!')).toBe(true);
    expect(verify(sig, Buffer.from('hellO'), 'sixteen-bytes-key!')).toBe(false);
    expect(verify(sig, req.body, 'another-key-of-16b')).toBe(false);
  });

  test('a batch: JSON with base64 bodies, signed over the JSON', () => {
    const ref = { topic: 'orders', partition: 0 };
    const req = pushRequest('hook', ref, [message(1, 'a'), message(2, 'b')], policy({ maxMessages: 10 }), 99);
    expect(req.headers['Content-Type']).toBe(BATCH_CONTENT_TYPE);
    expect(req.headers['Herald-Message-Id']).toBeUndefined();
    const body = JSON.parse(req.body.toString()) as { messages: { id: string; body: string }[] };
    expect(body).toMatchObject({ topic: 'orders', partition: 0, group: 'hook' });
    expect(body.messages.map((m) => [m.id, Buffer.from(m.body, 'base64').toString()])).toEqual([
      ['orders/0/1', 'a'],
      ['orders/0/2', 'b'],
    ]);
    expect(verify(req.headers['Herald-Signature'] as string, req.body, 'sixteen-bytes-key!')).toBe(true);
  });

  test('push options are checked, naming the field', () => {
    const bad = (push: Record<string, unknown>, field: string) => {
      const input = { url: 'http://127.0.0.1/x', signingKey: 'sixteen-bytes-key!', ...push };
      expect(() => resolveGroupPolicy({ push: input })).toThrow(OptionsError);
      expect(() => resolveGroupPolicy({ push: input })).toThrow(field);
    };
    bad({ url: 'ftp://x/y' }, 'push.url');
    bad({ signingKey: 'short' }, 'push.signingKey');
    bad({ timeoutMs: 0 }, 'push.timeoutMs');
    bad({ maxInFlight: 1001 }, 'push.maxInFlight');
    bad({ headers: { 'Herald-Key': 'x' } }, 'push.headers.Herald-Key');
    bad({ headers: { 'bad header': 'x' } }, 'push.headers.bad header');
    bad({ batch: { maxMessages: 0 } }, 'push.batch.maxMessages');
    bad({ keyId: 'no spaces' }, 'push.keyId');
    bad({ ca: 'not a certificate' }, 'push.ca holds no PEM certificate');
    bad(
      { ca: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----' },
      'push.ca certificate 1 does not parse',
    );
    bad({ ca: 42 }, 'push.ca is not a string');
    expect(() =>
      resolveGroupPolicy({
        mode: 'broadcast',
        push: { url: 'http://a/b', signingKey: 'sixteen-bytes-key!' },
      }),
    ).toThrow('push is for clustering groups only');
  });
});
