// The console's JSON API (docs/console.md is the contract): every call authenticated as the
// brokers do it, custom resources read with the operator's RBAC and filtered by the caller's
// rules, written with it after the caller's admin rule was checked, and Admin calls proxied to a
// broker with the caller's own token (admin-proxy.ts), so the broker's rules decide.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiException, PatchStrategy } from '@kubernetes/client-node';
import type { CustomObjectsApi, KubernetesObject, KubernetesObjectApi } from '@kubernetes/client-node';
import { HeraldError, UnavailableError } from '../../common/errors';
import { problemOf } from '../../common/http/problem';
import type { Logger } from '../../common/logger';
import type { Authenticator } from '../../common/security/authenticator';
import type { AccessSource } from '../../common/security/access-watch';
import type { Resource } from '../../common/security/access-rules';
import type { DeadLetter } from '../../proto/gen/herald/v1/DeadLetter';
import type { Delivery } from '../../proto/gen/herald/v1/Delivery';
import type { PeekResponse } from '../../proto/gen/herald/v1/PeekResponse';
import type { ListDeadLettersResponse } from '../../proto/gen/herald/v1/ListDeadLettersResponse';
import type { PartitionLag } from '../../proto/gen/herald/v1/PartitionLag';
import type { PurgeDeadLettersResponse } from '../../proto/gen/herald/v1/PurgeDeadLettersResponse';
import type { ReplayDeadLettersResponse } from '../../proto/gen/herald/v1/ReplayDeadLettersResponse';
import type { ResetOffsetsResponse } from '../../proto/gen/herald/v1/ResetOffsetsResponse';
import type { TraceResponse } from '../../proto/gen/herald/v1/TraceResponse';
import { BrokerPoolResource, ConsumerGroupResource, TopicResource } from '../gen/crds';
import type { BrokerPool, ConsumerGroup, Topic } from '../gen/crds';
import type { PodZones } from '../kube/zones';
import { readIfExists } from '../kube/client';
import type { AdminProxy } from './admin-proxy';
import type { SeriesStore } from './series';
import {
  brokersOf,
  groupSummary,
  mayAdmin,
  mayView,
  notReady,
  parseTarget,
  previewReset,
  topicSummary,
} from './views';
import type { Caller } from './views';
import type { SessionAnswer } from './contract';

/** The field manager of the console's writes (server-side apply), as `kubectl` shows it. */
export const CONSOLE_FIELD_MANAGER = 'herald-console';
const MAX_BODY_BYTES = 1024 * 1024;
const DEAD_LETTER_LIMIT = 500;

export interface ConsoleApiDeps {
  custom: CustomObjectsApi;
  objects: KubernetesObjectApi;
  zones: PodZones;
  authenticator: Authenticator;
  access: AccessSource;
  /** Whether access rules are enforced (the operator's --authorization). */
  authorize: boolean;
  proxy: AdminProxy;
  series: SeriesStore;
  /** The one namespace the operator watches, if it watches one. */
  watchNamespace: string | undefined;
  logger: Logger;
}

interface Request {
  caller: Caller;
  authorization: string;
  ns: string;
  query: URLSearchParams;
  body: () => Promise<Record<string, unknown>>;
}

type Handler = (r: Request, params: string[]) => Promise<{ status?: number; body: unknown }>;

const bad = (field: string, message: string) => new HeraldError('INVALID_REQUEST', message, { field });
const denied = (caller: Caller, operation: string, resources: Resource[]) => {
  const resource = resources.map((r) => `${r.kind}/${r.name}`).join(',');
  return new HeraldError('PERMISSION_DENIED', `${caller.subject} may not ${operation} ${resource}`, {
    operation,
    resource,
    subject: caller.subject,
  });
};

/** A proxied call's failure as the HeraldError the page shows (an unreachable broker is retriable). */
function brokerError(err: unknown): unknown {
  if (err instanceof UnavailableError)
    return new HeraldError('NOT_PARTITION_OWNER', `broker ${err.address} did not answer: ${err.message}`, {
      owner: err.address,
    });
  return err;
}

/** An apiserver refusal of a write, with the apiserver's own message. */
function apiserverError(err: unknown): unknown {
  if (!(err instanceof ApiException)) return err;
  const e = err as ApiException<unknown>;
  let message = `the apiserver answered ${e.code}`;
  try {
    const body = (typeof e.body === 'string' ? JSON.parse(e.body) : e.body) as { message?: string };
    if (body?.message) message = body.message;
  } catch {
    // Not a Status object: keep the code alone.
  }
  return Object.assign(new HeraldError('INVALID_REQUEST', message, { status: String(e.code) }), {
    httpStatus: e.code === 403 ? 403 : 422,
  });
}

/** The JSON form of a message: the body as base64, and as text when it is UTF-8. */
function messageJson(m: Partial<Delivery>) {
  const body = m.body ?? Buffer.alloc(0);
  const text = body.toString('utf8');
  return {
    ...m,
    body: body.toString('base64'),
    ...(Buffer.from(text, 'utf8').equals(body) ? { bodyText: text } : {}),
  };
}

/** The JSON form of a dead letter: its message as messageJson. */
function deadLetterJson(d: DeadLetter) {
  return { ...d, message: messageJson(d.message ?? {}) };
}

/** A query parameter as a whole number (absent or empty: undefined). */
function whole(query: URLSearchParams, k: string): number | undefined {
  const v = query.get(k);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw bad(k, `${k} must be a whole number`);
  return n;
}

export function consoleApi(d: ConsoleApiDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const list = async <T>(
    ref: typeof TopicResource | typeof ConsumerGroupResource | typeof BrokerPoolResource,
    namespace: string,
  ) => ((await d.custom.listNamespacedCustomObject({ ...ref, namespace })) as { items: T[] }).items;
  const get = async <T>(
    ref: typeof TopicResource | typeof ConsumerGroupResource,
    namespace: string,
    name: string,
  ) => readIfExists(async () => (await d.custom.getNamespacedCustomObject({ ...ref, namespace, name })) as T);
  const topicOf = async (r: Request, name: string): Promise<Topic> => {
    if (!mayView(r.caller, { kind: 'topic', name }))
      throw denied(r.caller, 'view', [{ kind: 'topic', name }]);
    const t = await get<Topic>(TopicResource, r.ns, name);
    if (!t) throw new HeraldError('TOPIC_NOT_FOUND', `topic ${r.ns}/${name} does not exist`, { topic: name });
    return t;
  };
  const groupOf = async (r: Request, name: string): Promise<ConsumerGroup> => {
    if (!mayView(r.caller, { kind: 'group', name }))
      throw denied(r.caller, 'view', [{ kind: 'group', name }]);
    const g = await get<ConsumerGroup>(ConsumerGroupResource, r.ns, name);
    if (!g) throw new HeraldError('GROUP_NOT_FOUND', `group ${r.ns}/${name} does not exist`, { group: name });
    return g;
  };
  /** The addresses of the brokers that hold a partition of the topic, from its status. */
  const owners = (t: Topic) => [
    ...new Set((t.status?.assignment ?? []).map((a) => a.address).filter((a): a is string => !!a)),
  ];
  const anyOwner = (t: Topic) => {
    const o = owners(t);
    if (o.length === 0)
      throw new HeraldError('NOT_PARTITION_OWNER', `no broker holds a partition of ${t.metadata?.name} yet`, {
        topic: t.metadata?.name ?? '',
      });
    return o[0];
  };
  const proxied = async <T>(p: Promise<T>) => {
    try {
      return await p;
    } catch (err) {
      throw brokerError(err);
    }
  };
  const lagOf = async (r: Request, t: Topic, group: string, consumer = '') => {
    const lag = await proxied(
      d.proxy.lag(owners(t), r.authorization, group, t.metadata?.name ?? '', consumer),
    );
    const now = Date.now();
    const endOffset = perPartition(lag, t.spec.partitions, (p) => Number(p.endOffset));
    const lags = perPartition(lag, t.spec.partitions, (p) => Number(p.lag));
    d.series.record(`group:${r.ns}/${group}/${consumer}`, { t: now, endOffset, lag: lags });
    d.series.record(`topic:${r.ns}/${t.metadata?.name}`, { t: now, endOffset, lag: [] });
    return lag;
  };
  const deadLetterFilter = (r: Request, v: Record<string, unknown>) => {
    const str = (k: string, required: boolean) => {
      const x = v[k];
      if (x === undefined && !required) return '';
      if (typeof x !== 'string' || (required && x === '')) throw bad(k, `${k} must be a non-empty string`);
      return x;
    };
    return {
      topic: str('topic', true),
      group: str('group', true),
      consumer: str('consumer', false),
      ns: r.ns,
    };
  };
  const writeObject = async <T extends KubernetesObject>(
    r: Request,
    kind: 'Topic' | 'ConsumerGroup',
    ref: typeof TopicResource | typeof ConsumerGroupResource,
    name: string,
    check: (body: { spec: Record<string, unknown> }, existing: T | undefined) => void,
  ) => {
    const body = await r.body();
    if (body.kind !== kind) throw bad('kind', `kind must be ${kind}`);
    const meta = (body.metadata ?? {}) as { name?: unknown; namespace?: unknown };
    if (meta.name !== name) throw bad('metadata.name', `metadata.name must be ${name}, as in the path`);
    if (meta.namespace !== undefined && meta.namespace !== r.ns)
      throw bad('metadata.namespace', `metadata.namespace must be ${r.ns}, as in the path`);
    if (typeof body.spec !== 'object' || body.spec === null) throw bad('spec', 'spec must be an object');
    const existing = await get<T>(ref, r.ns, name);
    check(body as { spec: Record<string, unknown> }, existing);
    const labels = (body.metadata as { labels?: unknown } | undefined)?.labels;
    const obj = {
      apiVersion: `${ref.group}/${ref.version}`,
      kind,
      metadata: { name, namespace: r.ns, ...(labels ? { labels } : {}) },
      spec: body.spec,
    } as KubernetesObject;
    try {
      const written = await d.objects.patch(
        obj,
        undefined,
        undefined,
        CONSOLE_FIELD_MANAGER,
        true,
        PatchStrategy.ServerSideApply,
      );
      d.logger.info('custom resource written', { kind, namespace: r.ns, name, subject: r.caller.subject });
      return { status: existing ? 200 : 201, written, created: !existing };
    } catch (err) {
      throw apiserverError(err);
    }
  };

  const routes: [string, RegExp, Handler][] = [
    [
      'GET',
      /^\/api\/v1\/session$/,
      (r) =>
        Promise.resolve({
          body: {
            subject: r.caller.subject,
            defaultNamespace: d.watchNamespace ?? 'default',
          } satisfies SessionAnswer,
        }),
    ],
    [
      'GET',
      /^\/api\/v1\/namespaces\/([^/]+)\/overview$/,
      async (r) => {
        const [pools, topics, groups] = await Promise.all([
          list<BrokerPool>(BrokerPoolResource, r.ns),
          list<Topic>(TopicResource, r.ns),
          list<ConsumerGroup>(ConsumerGroupResource, r.ns),
        ]);
        const visibleTopics = topics.filter((t) =>
          mayView(r.caller, { kind: 'topic', name: t.metadata?.name ?? '' }),
        );
        const visibleGroups = groups.filter((g) =>
          mayView(r.caller, { kind: 'group', name: g.metadata?.name ?? '' }),
        );
        const brokers = await Promise.all(
          brokersOf(topics).map(async (b) => ({ ...b, zone: await d.zones.zoneOfPod(r.ns, b.name) })),
        );
        return {
          body: {
            pools: pools.map((p) => ({
              name: p.metadata?.name ?? '',
              replicas: p.status?.replicas ?? 0,
              readyReplicas: p.status?.readyReplicas ?? 0,
            })),
            brokers,
            topics: visibleTopics.map(topicSummary),
            groups: visibleGroups.map(groupSummary),
            notReady: [
              ...pools.flatMap((p) => notReady('BrokerPool', p)),
              ...visibleTopics.flatMap((t) => notReady('Topic', t)),
              ...visibleGroups.flatMap((g) => notReady('ConsumerGroup', g)),
            ],
          },
        };
      },
    ],
    [
      'GET',
      /^\/api\/v1\/namespaces\/([^/]+)\/topics\/([^/]+)$/,
      async (r, [name]) => {
        const topic = await topicOf(r, name);
        // End offsets come with any group's lag the caller may read (the broker decides).
        const groups = (await list<ConsumerGroup>(ConsumerGroupResource, r.ns)).filter(
          (g) => g.spec.topic === name && mayView(r.caller, { kind: 'group', name: g.metadata?.name ?? '' }),
        );
        let sampled = false;
        for (const g of groups) {
          if (g.spec.mode === 'broadcast') continue;
          sampled = await lagOf(r, topic, g.metadata?.name ?? '').then(
            () => true,
            () => false,
          );
          if (sampled) break;
        }
        return {
          body: {
            topic,
            partitions: (topic.status?.assignment ?? []).map((a) => ({
              partition: a.partition,
              broker: a.broker,
              address: a.address ?? '',
              epoch: a.epoch,
            })),
            series: sampled ? d.series.get(`topic:${r.ns}/${name}`) : { t: [], endOffset: [], lag: [] },
          },
        };
      },
    ],
    [
      'GET',
      /^\/api\/v1\/namespaces\/([^/]+)\/topics\/([^/]+)\/messages$/,
      async (r, [name]) => {
        const partition = whole(r.query, 'partition');
        if (partition === undefined) throw bad('partition', 'partition is required');
        const offset = whole(r.query, 'offset');
        const timestampMs = whole(r.query, 'timestampMs');
        if (offset !== undefined && timestampMs !== undefined)
          throw bad('offset', 'give offset or timestampMs, not both');
        const from = timestampMs !== undefined ? { timestampMs } : { offset: offset ?? 0 };
        const limit = whole(r.query, 'limit') ?? 0;
        const topic = await topicOf(r, name);
        const page = await proxied(
          d.proxy.call<PeekResponse>(anyOwner(topic), r.authorization, (a, m, o, cb) =>
            a.Peek({ topic: name, partition, limit, ...from }, m, o, cb),
          ),
        );
        return { body: { ...page, messages: page.messages.map(messageJson) } };
      },
    ],
    [
      'PUT',
      /^\/api\/v1\/namespaces\/([^/]+)\/topics\/([^/]+)$/,
      async (r, [name]) => {
        const w = await writeObject<Topic>(r, 'Topic', TopicResource, name, () => {
          if (!mayAdmin(r.caller, [{ kind: 'topic', name }]))
            throw denied(r.caller, 'admin', [{ kind: 'topic', name }]);
        });
        return { status: w.status, body: { topic: w.written, created: w.created } };
      },
    ],
    [
      'GET',
      /^\/api\/v1\/namespaces\/([^/]+)\/consumergroups\/([^/]+)$/,
      async (r, [name]) => {
        const group = await groupOf(r, name);
        const consumer = r.query.get('consumer') ?? '';
        const topic = await get<Topic>(TopicResource, r.ns, group.spec.topic);
        let lag: PartitionLag[] | null = null;
        let lagError: unknown;
        let deadLetters: number | null = null;
        if (topic) {
          try {
            lag = await lagOf(r, topic, name, consumer);
            deadLetters = lag.reduce((n, p) => n + Number(p.deadLetters), 0);
          } catch (err) {
            lagError = problemOf(err).body;
          }
        }
        return {
          body: {
            group,
            lag,
            ...(lagError ? { lagError } : {}),
            deadLetters,
            series: lag
              ? d.series.get(`group:${r.ns}/${name}/${consumer}`)
              : { t: [], endOffset: [], lag: [] },
          },
        };
      },
    ],
    [
      'PUT',
      /^\/api\/v1\/namespaces\/([^/]+)\/consumergroups\/([^/]+)$/,
      async (r, [name]) => {
        const w = await writeObject<ConsumerGroup>(
          r,
          'ConsumerGroup',
          ConsumerGroupResource,
          name,
          (body, existing) => {
            const topic = body.spec.topic;
            if (typeof topic !== 'string' || topic === '')
              throw bad('spec.topic', 'spec.topic must name a Topic');
            const resources: Resource[] = [
              { kind: 'group', name },
              { kind: 'topic', name: topic },
              ...(existing && existing.spec.topic !== topic
                ? [{ kind: 'topic' as const, name: existing.spec.topic }]
                : []),
            ];
            if (!mayAdmin(r.caller, resources)) throw denied(r.caller, 'admin', resources);
          },
        );
        return { status: w.status, body: { group: w.written, created: w.created } };
      },
    ],
    [
      'POST',
      /^\/api\/v1\/namespaces\/([^/]+)\/consumergroups\/([^/]+)\/reset$/,
      async (r, [name]) => {
        const body = await r.body();
        const target = parseTarget(body.target);
        if (typeof target === 'string') throw bad('target', target);
        const partitions = body.partitions ?? [];
        if (!Array.isArray(partitions) || !partitions.every((p) => Number.isSafeInteger(p) && p >= 0))
          throw bad('partitions', 'partitions must be a list of partition numbers');
        const consumer = body.consumer ?? '';
        if (typeof consumer !== 'string') throw bad('consumer', 'consumer must be a string');
        const group = await groupOf(r, name);
        const topic = await topicOf(r, group.spec.topic);
        if (body.preview === true) {
          const lag = await lagOf(r, topic, name, consumer);
          return { body: { preview: previewReset(lag, target, partitions as number[]) } };
        }
        const res = await proxied(
          d.proxy.call<ResetOffsetsResponse>(anyOwner(topic), r.authorization, (a, m, o, cb) =>
            a.ResetOffsets(
              {
                group: name,
                topic: group.spec.topic,
                partitions: partitions as number[],
                consumer,
                ...target,
              },
              m,
              o,
              cb,
            ),
          ),
        );
        d.logger.info('offsets reset from the console', {
          namespace: r.ns,
          group: name,
          subject: r.caller.subject,
        });
        return { body: { partitions: res.partitions, lag: await lagOf(r, topic, name, consumer) } };
      },
    ],
    [
      'GET',
      /^\/api\/v1\/namespaces\/([^/]+)\/trace$/,
      async (r) => {
        const messageId = r.query.get('messageId') ?? '';
        const refKey = r.query.get('refKey') ?? '';
        const topicName = messageId !== '' ? messageId.split('/')[0] : (r.query.get('topic') ?? '');
        if (messageId === '' && refKey === '') throw bad('refKey', 'give refKey (with topic) or messageId');
        if (topicName === '') throw bad('topic', 'a ref key search needs topic');
        const topic = await topicOf(r, topicName);
        const res = await proxied(
          d.proxy.call<TraceResponse>(anyOwner(topic), r.authorization, (a, m, o, cb) =>
            a.Trace(
              messageId !== '' ? { messageId, limit: 0 } : { refKey, topic: topicName, limit: 0 },
              m,
              o,
              cb,
            ),
          ),
        );
        return { body: { events: res.events } };
      },
    ],
    [
      'GET',
      /^\/api\/v1\/namespaces\/([^/]+)\/deadletters$/,
      async (r) => {
        const f = deadLetterFilter(r, Object.fromEntries(r.query));
        const ms = (k: string) => {
          const v = r.query.get(k);
          if (v === null || v === '') return 0;
          const n = Number(v);
          if (!Number.isSafeInteger(n) || n < 0) throw bad(k, `${k} must be a time in ms since the epoch`);
          return n;
        };
        const topic = await topicOf(r, f.topic);
        const res = await proxied(
          d.proxy.call<ListDeadLettersResponse>(anyOwner(topic), r.authorization, (a, m, o, cb) =>
            a.ListDeadLetters(
              {
                filter: {
                  topic: f.topic,
                  group: f.group,
                  consumer: f.consumer,
                  sinceMs: ms('sinceMs'),
                  untilMs: ms('untilMs'),
                },
                pageSize: DEAD_LETTER_LIMIT,
              },
              m,
              o,
              cb,
            ),
          ),
        );
        return { body: { deadLetters: res.deadLetters.map(deadLetterJson) } };
      },
    ],
    [
      'POST',
      /^\/api\/v1\/namespaces\/([^/]+)\/deadletters\/(replay|purge)$/,
      async (r, [action]) => {
        const body = await r.body();
        const f = deadLetterFilter(r, body);
        const ids = body.ids;
        if (!Array.isArray(ids) || ids.length === 0 || !ids.every((i) => Number.isSafeInteger(i) && i > 0))
          throw bad('ids', 'ids must be a non-empty list of dead-letter ids (the selection)');
        const topic = await topicOf(r, f.topic);
        const filter = { topic: f.topic, group: f.group, consumer: f.consumer, ids: ids as number[] };
        const address = anyOwner(topic);
        d.logger.info(`dead letters ${action} from the console`, {
          namespace: r.ns,
          group: f.group,
          count: ids.length,
          subject: r.caller.subject,
        });
        if (action === 'replay') {
          const res = await proxied(
            d.proxy.call<ReplayDeadLettersResponse>(address, r.authorization, (a, m, o, cb) =>
              a.ReplayDeadLetters({ filter }, m, o, cb),
            ),
          );
          return { body: { replayed: res.replayed } };
        }
        const res = await proxied(
          d.proxy.call<PurgeDeadLettersResponse>(address, r.authorization, (a, m, o, cb) =>
            a.PurgeDeadLetters({ filter }, m, o, cb),
          ),
        );
        return { body: { purged: res.purged } };
      },
    ],
  ];

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    // managedFields is the apiserver's bookkeeping: no screen shows it.
    res
      .writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers })
      .end(JSON.stringify(body, (k, v: unknown) => (k === 'managedFields' ? undefined : v)));
  };
  const fail = (res: ServerResponse, err: unknown, status?: number) => {
    const p = problemOf(err, status ?? (err as { httpStatus?: number }).httpStatus);
    if (p.status >= 500)
      d.logger.warn('console call failed', { reason: p.body.reason, detail: p.body.detail });
    send(res, p.status, p.body, { ...p.headers, 'content-type': 'application/problem+json' });
  };

  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://console');
    const matching = routes.filter(([, re]) => re.test(url.pathname));
    const route = matching.find(([method]) => method === req.method);
    if (!route) {
      const err = new HeraldError(
        'INVALID_REQUEST',
        matching.length ? `${req.method} is not served on ${url.pathname}` : `no such path: ${url.pathname}`,
      );
      fail(res, err, matching.length ? 405 : 404);
      return;
    }
    void (async () => {
      let params: string[];
      try {
        params = (route[1].exec(url.pathname) ?? []).slice(1).map(decodeURIComponent);
      } catch {
        throw new HeraldError('INVALID_REQUEST', `the path is not URL-encoded correctly: ${url.pathname}`);
      }
      const header = req.headers.authorization;
      const principal = await d.authenticator.authenticate(header, undefined);
      const caller: Caller = {
        subject: principal.subject,
        rules: d.authorize ? d.access.current().rules : undefined,
      };
      const ns = url.pathname.startsWith('/api/v1/namespaces/') ? (params.shift() ?? '') : '';
      if (ns !== '' && d.watchNamespace !== undefined && ns !== d.watchNamespace)
        throw new HeraldError('INVALID_REQUEST', `this operator serves namespace ${d.watchNamespace} only`, {
          field: 'namespace',
        });
      const r: Request = {
        caller,
        authorization: header ?? '',
        ns,
        query: url.searchParams,
        body: () => readJson(req),
      };
      const answer = await route[2](r, params);
      send(res, answer.status ?? 200, answer.body);
    })().catch((err: unknown) => fail(res, err));
  };
}

function perPartition(lag: PartitionLag[], partitions: number, value: (p: PartitionLag) => number): number[] {
  const row = new Array<number>(partitions).fill(0);
  for (const p of lag) if (p.partition < partitions) row[p.partition] = Math.max(row[p.partition], value(p));
  return row;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES)
      throw new HeraldError('INVALID_REQUEST', `the body is larger than ${MAX_BODY_BYTES} bytes`, {
        field: 'body',
      });
    chunks.push(chunk);
  }
  let v: unknown;
  try {
    v = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HeraldError('INVALID_REQUEST', 'the body is not JSON', { field: 'body' });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new HeraldError('INVALID_REQUEST', 'the body must be a JSON object', { field: 'body' });
  return v as Record<string, unknown>;
}
