import { readFileSync } from 'node:fs';
import { HeraldError, REASONS } from '../../../../common/errors';
import type { Reason } from '../../../../common/errors';
import { HTTP_STATUS, problemOf } from '../../../../common/http/problem';
import { OPENAPI_FILE } from '../../../../broker/server/http-gateway';

test('a HeraldError becomes its status and a problem with the reason, message and metadata of gRPC', () => {
  const p = problemOf(new HeraldError('TOPIC_NOT_FOUND', 'topic x does not exist', { topic: 'x' }));
  expect(p).toEqual({
    status: 404,
    headers: {},
    body: {
      type: 'https://herald.dev/errors/TOPIC_NOT_FOUND',
      title: 'TOPIC_NOT_FOUND',
      status: 404,
      detail: 'topic x does not exist',
      reason: 'TOPIC_NOT_FOUND',
      domain: 'herald.dev',
      grpcCode: 'NOT_FOUND',
      metadata: { topic: 'x' },
    },
  });
});

test('RATE_LIMITED carries Retry-After in whole seconds, rounded up; other 503s say 1', () => {
  const limited = (ms: string) =>
    problemOf(new HeraldError('RATE_LIMITED', 'slow down', { retry_after_ms: ms })).headers['retry-after'];
  expect(limited('1')).toBe('1');
  expect(limited('1000')).toBe('1');
  expect(limited('1001')).toBe('2');
  expect(limited('garbage')).toBe('1');
  expect(problemOf(new HeraldError('STORAGE_UNAVAILABLE', 'down')).headers).toEqual({ 'retry-after': '1' });
  expect(problemOf(new HeraldError('CREDENTIALS_MISSING', 'who')).headers).toEqual({
    'www-authenticate': 'Bearer realm="herald"',
  });
});

test('statuses follow what the reason means, and an unknown error is a 500 INTERNAL_ERROR', () => {
  const retriable = (Object.keys(REASONS) as Reason[]).filter(
    (r) => REASONS[r].retriable && r !== 'RATE_LIMITED',
  );
  for (const r of retriable) expect([r, HTTP_STATUS[r]]).toEqual([r, 503]);
  expect(HTTP_STATUS.MESSAGE_TOO_LARGE).toBe(413);
  expect(problemOf(new TypeError('boom'))).toMatchObject({ status: 500, body: { reason: 'INTERNAL_ERROR' } });
  expect(problemOf(new HeraldError('INVALID_REQUEST', 'no route'), 404).status).toBe(404);
});

test('the OpenAPI document lists every reason, and documents each status the mapping gives', () => {
  const doc = JSON.parse(readFileSync(OPENAPI_FILE, 'utf8')) as {
    components: { schemas: { Problem: { properties: { reason: { enum: string[] } } } }; responses: object };
  };
  expect([...doc.components.schemas.Problem.properties.reason.enum].sort()).toEqual(
    Object.keys(REASONS).sort(),
  );
  const documented = Object.keys(doc.components.responses)
    .map((k) => k.replace('Problem', ''))
    .filter((k) => k !== 'Default');
  for (const status of new Set(Object.values(HTTP_STATUS)))
    if (status !== 500) expect(documented).toContain(String(status));
});
