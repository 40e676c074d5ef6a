// The REST gateway (proto/http/openapi.json, docs/http.md): each HTTP request becomes the
// herald.v1.Broker call it names, made in process through the same interceptor chain
// (authentication, access rules) and the same handlers as a gRPC call (common/grpc/in-process.ts),
// so publishing, long polls, acks, rate limits and forwarding to the partition's owner behave
// as over gRPC, and every failure carries the gRPC reason (common/http/problem.ts). This file
// only translates: HTTP paths, headers and JSON to protobuf messages and back.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { HeraldError } from '../../common/errors';
import type { Logger } from '../../common/logger';
import { callUnary } from '../../common/grpc/in-process';
import type { Interceptor } from '../../common/grpc/interceptors';
import { PROBLEM_TYPE, problemOf } from '../../common/http/problem';
import { peerAddress, verifiedClientCn } from '../../common/http/server';
import { PROTO_DIR } from '../../proto/load';
import { brokerServiceDefinition } from './delivery-encoding';
import type { BrokerHandlers } from '../../proto/gen/herald/v1/Broker';
import type { Delivery } from '../../proto/gen/herald/v1/Delivery';
import type { Message__Input } from '../../proto/gen/herald/v1/Message';
import type { PublishRequest__Input } from '../../proto/gen/herald/v1/PublishRequest';
import type { BrokerMetrics } from '../metrics';

/** The one source of the HTTP contract, served at /openapi.json. */
export const OPENAPI_FILE = join(PROTO_DIR, 'http', 'openapi.json');

/** A raw body is one message; this content type is a JSON batch. */
export const BATCH_TYPE = 'application/vnd.herald.batch+json';

export interface GatewayOptions {
  /** The broker's namespace (its pool's; `default` for a standalone broker). */
  namespace: string;
  /** publish.maxRequestBytes: a body is read up to the bytes of that many base64 payload. */
  maxRequestBytes: number;
}

const ROUTE = /^\/v1\/namespaces\/([^/]+)\/topics\/([^/]+)\/(?:(messages)|groups\/([^/]+)\/(pull|ack|nack))$/;

type Operation = 'Publish' | 'Pull' | 'Ack' | 'Nack';
const OPERATIONS: Record<string, Operation> = { messages: 'Publish', pull: 'Pull', ack: 'Ack', nack: 'Nack' };

interface Route {
  operation: Operation;
  namespace: string;
  topic: string;
  group: string;
}

const invalid = (message: string, field: string) => new HeraldError('INVALID_REQUEST', message, { field });

function segment(raw: string, field: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw invalid(`the ${field} in the path is not valid percent-encoding`, field);
  }
}

function route(path: string): Route | undefined {
  const m = ROUTE.exec(path);
  if (!m) return undefined;
  return {
    operation: OPERATIONS[m[3] ?? m[5]],
    namespace: segment(m[1], 'namespace'),
    topic: segment(m[2], 'topic'),
    group: m[4] === undefined ? '' : segment(m[4], 'group'),
  };
}

/** The body, refused with BATCH_TOO_LARGE past `limit` bytes without reading the rest. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = () =>
    new HeraldError('BATCH_TOO_LARGE', `the request body is larger than ${limit} bytes`, {
      limit: String(limit),
      field: 'body',
    });
  if (Number(req.headers['content-length'] ?? 0) > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.pause();
        reject(tooLarge());
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

// ---- Values from headers and JSON, each refused with the field it came from ----

const UINT32_MAX = 4294967295;

function uint(value: unknown, field: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > max)
    throw invalid(`${field} must be an integer from 0 to ${max}, got ${JSON.stringify(value)}`, field);
  return n;
}

function str(value: unknown, field: string): string {
  if (typeof value !== 'string') throw invalid(`${field} must be a string`, field);
  return value;
}

function bool(value: unknown, field: string): boolean {
  if (value === 'true' || value === true) return true;
  if (value === 'false' || value === false) return false;
  throw invalid(`${field} must be true or false, got ${JSON.stringify(value)}`, field);
}

function stringMap(value: unknown, field: string): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw invalid(`${field} must be an object of strings`, field);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) out[k] = str(v, `${field}.${k}`);
  return out;
}

function object(value: unknown, field: string, allowed: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw invalid(`${field} must be a JSON object`, field);
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key))
      throw invalid(
        `${field} has an unknown field ${JSON.stringify(key)}`,
        field === 'body' ? key : `${field}.${key}`,
      );
  }
  return value as Record<string, unknown>;
}

function parseJson(body: Buffer, allowed: readonly string[]): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw invalid(`the body is not valid JSON: ${(err as Error).message}`, 'body');
  }
  return object(parsed, 'body', allowed);
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function schedule(delayMs: unknown, deliverAtMs: unknown, field: (name: string) => string): Message__Input {
  if (delayMs !== undefined && deliverAtMs !== undefined)
    throw invalid(`give ${field('delayMs')} or ${field('deliverAtMs')}, not both`, field('delayMs'));
  if (delayMs !== undefined) return { delayMs: uint(delayMs, field('delayMs')) };
  if (deliverAtMs !== undefined) return { deliverAtMs: uint(deliverAtMs, field('deliverAtMs')) };
  return {};
}

function routeOf(partition: unknown, key: unknown, field: (name: string) => string) {
  if (partition !== undefined) return { partition: uint(partition, field('partition'), UINT32_MAX) };
  if (key !== undefined) return { key: str(key, field('key')) };
  return {};
}

const header = (req: IncomingMessage, name: string): string | undefined => {
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v.join(',') : v;
};

/** One message from a raw body and the Herald-* headers. */
function rawPublish(req: IncomingMessage, topic: string, body: Buffer): PublishRequest__Input {
  const properties: Record<string, string> = {};
  for (const p of req.headersDistinct['herald-property'] ?? []) {
    const eq = p.indexOf('=');
    if (eq <= 0)
      throw invalid(`Herald-Property must be name=value, got ${JSON.stringify(p)}`, 'Herald-Property');
    try {
      properties[decodeURIComponent(p.slice(0, eq).trim())] = decodeURIComponent(p.slice(eq + 1).trim());
    } catch {
      throw invalid(`Herald-Property ${JSON.stringify(p)} is not valid percent-encoding`, 'Herald-Property');
    }
  }
  const tags = header(req, 'Herald-Tags');
  const priority = header(req, 'Herald-Priority');
  const message: Message__Input = {
    refKey: header(req, 'Herald-Ref-Key') ?? '',
    tags: tags === undefined ? [] : tags.split(',').map((t) => t.trim()),
    properties,
    body,
    priority: priority === undefined ? false : bool(priority, 'Herald-Priority'),
    ...schedule(header(req, 'Herald-Delay-Ms'), header(req, 'Herald-Deliver-At-Ms'), (n) =>
      n === 'delayMs' ? 'Herald-Delay-Ms' : 'Herald-Deliver-At-Ms',
    ),
  };
  const partition = header(req, 'Herald-Partition');
  const key = header(req, 'Herald-Key');
  // With an explicit partition the key is only stored; otherwise it routes (and is stored).
  if (partition !== undefined && key !== undefined) message.key = key;
  return {
    topic,
    messages: [message],
    ...routeOf(partition, key, (n) => (n === 'partition' ? 'Herald-Partition' : 'Herald-Key')),
  };
}

const MESSAGE_FIELDS = [
  'key',
  'refKey',
  'tags',
  'properties',
  'body',
  'text',
  'priority',
  'delayMs',
  'deliverAtMs',
] as const;

function batchMessage(value: unknown, i: number): Message__Input {
  const field = (name: string) => `messages[${i}].${name}`;
  const m = object(value, `messages[${i}]`, MESSAGE_FIELDS);
  if (m.body !== undefined && m.text !== undefined)
    throw invalid(`give ${field('body')} (base64) or ${field('text')}, not both`, field('body'));
  let body = Buffer.alloc(0);
  if (m.body !== undefined) {
    const b64 = str(m.body, field('body'));
    if (!BASE64.test(b64)) throw invalid(`${field('body')} must be base64`, field('body'));
    body = Buffer.from(b64, 'base64');
  } else if (m.text !== undefined) {
    body = Buffer.from(str(m.text, field('text')), 'utf8');
  }
  if (m.tags !== undefined && !Array.isArray(m.tags))
    throw invalid(`${field('tags')} must be an array of strings`, field('tags'));
  return {
    key: m.key === undefined ? '' : str(m.key, field('key')),
    refKey: m.refKey === undefined ? '' : str(m.refKey, field('refKey')),
    tags: ((m.tags as unknown[] | undefined) ?? []).map((t, j) => str(t, `${field('tags')}[${j}]`)),
    properties: m.properties === undefined ? {} : stringMap(m.properties, field('properties')),
    body,
    priority: m.priority === undefined ? false : bool(m.priority, field('priority')),
    ...schedule(m.delayMs, m.deliverAtMs, field),
  };
}

function batchPublish(topic: string, body: Buffer): PublishRequest__Input {
  const b = parseJson(body, ['partition', 'key', 'messages']);
  if (!Array.isArray(b.messages)) throw invalid('messages must be an array of messages', 'messages');
  return {
    topic,
    messages: b.messages.map(batchMessage),
    ...routeOf(b.partition, b.key, (n) => n),
  };
}

const LEASE = ['consumerId', 'leaseEpoch'] as const;

function lease(b: Record<string, unknown>) {
  return {
    consumerId: b.consumerId === undefined ? '' : str(b.consumerId, 'consumerId'),
    leaseEpoch: b.leaseEpoch === undefined ? 0 : uint(b.leaseEpoch, 'leaseEpoch'),
  };
}

function offsets(value: unknown): number[] {
  if (!Array.isArray(value)) throw invalid('offsets must be an array of offsets', 'offsets');
  return value.map((o, i) => uint(o, `offsets[${i}]`));
}

function required(b: Record<string, unknown>, name: string): unknown {
  if (b[name] === undefined) throw invalid(`${name} is required`, name);
  return b[name];
}

const optionalUint = (b: Record<string, unknown>, name: string) =>
  b[name] === undefined ? 0 : uint(b[name], name, UINT32_MAX);

function deliveryJson(d: Delivery) {
  return {
    topic: d.topic,
    partition: d.partition,
    offset: d.offset,
    messageId: d.messageId,
    key: d.key,
    refKey: d.refKey,
    tags: d.tags,
    properties: d.properties,
    body: d.body.toString('base64'),
    publishTimeMs: d.publishTimeMs,
    deliveryAttempt: d.deliveryAttempt,
    priority: d.priority,
    ...(d.scheduledId !== '' ? { scheduledId: d.scheduledId, deliverAtMs: d.deliverAtMs } : {}),
  };
}

interface Answer {
  status: number;
  body?: unknown;
}

export function httpGateway(
  handlers: BrokerHandlers,
  /** The server edge's interceptors (authentication, access rules), as the gRPC server runs them. */
  chain: readonly Interceptor[],
  options: GatewayOptions,
  metrics: BrokerMetrics,
  logger: Logger,
): RequestListener {
  const methods = brokerServiceDefinition();
  const openapi = readFileSync(OPENAPI_FILE);
  // Base64 grows a payload by 4/3; JSON adds the fields around it.
  const maxBodyBytes = Math.ceil(options.maxRequestBytes * 1.4) + 64 * 1024;

  const serve = async (req: IncomingMessage, r: Route, cancelled: AbortSignal): Promise<Answer> => {
    const body = await readBody(req, maxBodyBytes);
    if (r.namespace !== options.namespace) {
      throw new HeraldError(
        'TOPIC_NOT_FOUND',
        `namespace ${r.namespace} is not served here; this broker serves namespace ${options.namespace}`,
        { topic: r.topic, namespace: r.namespace },
      );
    }
    const authorization = req.headers.authorization;
    const metadata = new grpc.Metadata();
    if (authorization !== undefined) metadata.set('authorization', authorization);
    const caller = { metadata, peer: peerAddress(req), peerCertificateCn: verifiedClientCn(req), cancelled };
    const { topic, group } = r;
    switch (r.operation) {
      case 'Publish': {
        const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
        const request = type === BATCH_TYPE ? batchPublish(topic, body) : rawPublish(req, topic, body);
        const res = await callUnary(chain, methods.Publish, handlers.Publish, request, caller);
        const results = res.results.map((x) => ({
          messageId: x.messageId,
          offset: x.offset,
          ...(x.deliverAtMs > 0 ? { deliverAtMs: x.deliverAtMs } : {}),
        }));
        return { status: 201, body: { topic: res.topic, partition: res.partition, results } };
      }
      case 'Pull': {
        const b = parseJson(body, ['partition', 'maxMessages', 'maxWaitMs', 'ackTimeoutMs', ...LEASE]);
        const request = {
          group,
          topic,
          partition: uint(required(b, 'partition'), 'partition', UINT32_MAX),
          maxMessages: optionalUint(b, 'maxMessages'),
          maxWaitMs: optionalUint(b, 'maxWaitMs'),
          ackTimeoutMs: optionalUint(b, 'ackTimeoutMs'),
          ...lease(b),
        };
        const res = await callUnary(chain, methods.Pull, handlers.Pull, request, caller);
        return { status: 200, body: { messages: res.messages.map(deliveryJson) } };
      }
      case 'Ack': {
        const b = parseJson(body, ['partition', 'offsets', ...LEASE]);
        const request = {
          group,
          topic,
          partition: uint(required(b, 'partition'), 'partition', UINT32_MAX),
          offsets: offsets(required(b, 'offsets')),
          ...lease(b),
        };
        const res = await callUnary(chain, methods.Ack, handlers.Ack, request, caller);
        return { status: 200, body: { committedOffset: res.committedOffset } };
      }
      case 'Nack': {
        const b = parseJson(body, ['partition', 'offsets', 'delayMs', 'error', ...LEASE]);
        const request = {
          group,
          topic,
          partition: uint(required(b, 'partition'), 'partition', UINT32_MAX),
          offsets: offsets(required(b, 'offsets')),
          delayMs: optionalUint(b, 'delayMs'),
          error: b.error === undefined ? '' : str(b.error, 'error'),
          ...lease(b),
        };
        await callUnary(chain, methods.Nack, handlers.Nack, request, caller);
        return { status: 204 };
      }
    }
  };

  const send = (res: ServerResponse, status: number, headers: Record<string, string>, body?: Buffer) => {
    if (res.headersSent) return;
    res.writeHead(status, body === undefined ? headers : { ...headers, 'content-length': body.length });
    res.end(body);
  };
  const fail = (res: ServerResponse, err: unknown, status?: number) => {
    const p = problemOf(err, status);
    if (p.body.reason === 'INTERNAL_ERROR') logger.error('HTTP request failed', { err });
    // A body left unread (too large) cannot be skipped on a kept-alive connection.
    const close: Record<string, string> = p.body.reason === 'BATCH_TOO_LARGE' ? { connection: 'close' } : {};
    send(
      res,
      p.status,
      { ...p.headers, ...close, 'content-type': PROBLEM_TYPE },
      Buffer.from(JSON.stringify(p.body)),
    );
  };

  return (req, res) => {
    const started = performance.now();
    const path = (req.url ?? '/').split('?')[0];
    let operation = 'none';
    res.on('finish', () => {
      metrics.httpHandled.inc({ operation, status: String(res.statusCode) });
      metrics.httpHandling.observe({ operation }, (performance.now() - started) / 1000);
    });
    if (path === '/openapi.json') {
      operation = 'GetOpenApi';
      if (req.method !== 'GET' && req.method !== 'HEAD')
        return fail(res, invalid(`${req.method} is not allowed on ${path}; use GET`, 'method'), 405);
      return send(res, 200, { 'content-type': 'application/json' }, openapi);
    }
    let r: Route | undefined;
    try {
      r = route(path);
    } catch (err) {
      return fail(res, err);
    }
    if (!r) return fail(res, invalid(`no such path: ${path} (see /openapi.json)`, 'path'), 404);
    operation = r.operation;
    if (req.method !== 'POST')
      return fail(res, invalid(`${req.method} is not allowed on ${path}; use POST`, 'method'), 405);
    const gone = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) gone.abort();
    });
    serve(req, r, gone.signal).then(
      (a) =>
        a.body === undefined
          ? send(res, a.status, {})
          : send(res, a.status, { 'content-type': 'application/json' }, Buffer.from(JSON.stringify(a.body))),
      (err: unknown) => fail(res, err),
    );
  };
}
