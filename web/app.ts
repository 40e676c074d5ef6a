// The Herald console's page: plain TypeScript, hash routes, and the operator's JSON API
// (docs/console.md) called with the signed-in token. Charts are uPlot's. Every control is a
// native link, button or form field, so the page is usable with the keyboard alone.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import './style.css';
import type {
  DeadLettersAnswer,
  GroupAnswer,
  MessageJson,
  MessagesAnswer,
  OverviewAnswer,
  Problem,
  ResetAnswer,
  SessionAnswer,
  TopicAnswer,
  TraceAnswer,
  WriteAnswer,
} from '../operator/console/contract';
import type { Condition } from '../operator/gen/crds';

class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail);
  }
}

/** A manifest or spec as the user writes it. */
type Json = Record<string, unknown>;

const session = {
  get token() {
    return sessionStorage.getItem('herald.token') ?? '';
  },
  get namespace() {
    return sessionStorage.getItem('herald.namespace') ?? 'default';
  },
  set(token: string, namespace: string) {
    sessionStorage.setItem('herald.token', token);
    sessionStorage.setItem('herald.namespace', namespace);
  },
  clear() {
    sessionStorage.removeItem('herald.token');
  },
};

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`/api/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${session.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json: unknown = await res.json();
  if (!res.ok) throw new ApiError(json as Problem);
  return json as T;
}

const nsPath = (rest: string) => `/namespaces/${encodeURIComponent(session.namespace)}${rest}`;

// ---- DOM helpers -------------------------------------------------------------------------

type Child = Node | string | number | null | undefined | false;

function h(
  tag: string,
  attrs: Record<string, string | boolean | ((e: Event) => void)> = {},
  ...children: Child[]
): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (v === true) el.setAttribute(k, '');
    else if (v !== false) el.setAttribute(k, v);
  }
  for (const c of children)
    if (c !== null && c !== undefined && c !== false) el.append(typeof c === 'number' ? String(c) : c);
  return el;
}

function table(headers: string[], rows: Child[][], label: string): HTMLElement {
  return h(
    'table',
    { 'aria-label': label },
    h('thead', {}, h('tr', {}, ...headers.map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', {}, ...rows.map((r) => h('tr', {}, ...r.map((c) => h('td', {}, c))))),
  );
}

function problemBox(err: unknown): HTMLElement {
  const p = err instanceof ApiError ? err.problem : { reason: 'ERROR', detail: String(err) };
  return h('div', { class: 'problem', role: 'alert' }, h('strong', {}, p.reason), ': ', p.detail);
}

const link = (href: string, text: string) => h('a', { href }, text);
const time = (ms: number) => (ms ? new Date(ms).toISOString().replace('T', ' ').replace('Z', '') : '');
const main = () => document.getElementById('main')!;

/** A message for the next screen shown (the outcome of an action that reloads the screen). */
let flash: HTMLElement | undefined;

function show(...nodes: Child[]) {
  for (const c of charts) c.destroy();
  charts.clear();
  if (flash) nodes.unshift(flash);
  flash = undefined;
  const m = main();
  m.replaceChildren(
    ...nodes
      .filter((n): n is Node | string => n !== null && n !== undefined && n !== false)
      .map((n) => (typeof n === 'number' ? String(n) : n)),
  );
}

// ---- charts ------------------------------------------------------------------------------

const COLORS = ['#1f5fbf', '#d1495b', '#2e7d32', '#f0a500', '#6a4c93', '#00798c', '#8d6e63', '#c2185b'];
const charts = new Set<uPlot>();

/** A line chart of `series` over `t` (ms); redrawn to the container's width. */
function chart(
  title: string,
  t: number[],
  series: { label: string; values: (number | null)[] }[],
): HTMLElement {
  const el = h('div', { class: 'chart', role: 'img', 'aria-label': `${title}: ${t.length} samples` });
  if (t.length < 2) {
    el.append(
      h(
        'p',
        { class: 'muted' },
        `${title}: the chart fills in as samples arrive (every 5 s while this page is open).`,
      ),
    );
    return el;
  }
  requestAnimationFrame(() => {
    const plot = new uPlot(
      {
        title,
        width: Math.max(240, el.clientWidth - 2),
        height: 220,
        series: [
          {},
          ...series.map((s, i) => ({ label: s.label, stroke: COLORS[i % COLORS.length], width: 2 })),
        ],
        axes: [{}, { size: 60 }],
      },
      [t.map((x) => x / 1000), ...series.map((s) => s.values)],
      el,
    );
    charts.add(plot);
  });
  return el;
}

window.addEventListener('resize', () => {
  for (const c of charts) {
    const parent = c.root.parentElement;
    if (parent) c.setSize({ width: Math.max(240, parent.clientWidth - 2), height: 220 });
  }
});

// ---- screens -----------------------------------------------------------------------------

function signIn(message?: string) {
  const token = h('input', {
    type: 'password',
    name: 'token',
    id: 'token',
    required: true,
    autocomplete: 'off',
  }) as HTMLInputElement;
  const ns = h('input', {
    type: 'text',
    name: 'namespace',
    id: 'namespace',
    value: session.namespace,
    required: true,
  }) as HTMLInputElement;
  const out = h('div', {});
  if (message) out.append(h('div', { class: 'problem', role: 'alert' }, message));
  const form = h(
    'form',
    {
      class: 'card',
      onsubmit: (e: Event) => {
        e.preventDefault();
        session.set(token.value.trim(), ns.value.trim());
        api<SessionAnswer>('GET', '/session').then(
          () => {
            if (location.hash === '#/overview') void route();
            else location.hash = '#/overview';
          },
          (err: unknown) => {
            session.clear();
            out.replaceChildren(problemBox(err));
          },
        );
      },
    },
    h('h1', {}, 'Sign in'),
    h(
      'p',
      { class: 'muted' },
      'A HeraldUser token, or a ServiceAccount token with audience herald (kubectl create token NAME --audience herald).',
    ),
    h('label', { for: 'token' }, 'Token', token),
    h('label', { for: 'namespace' }, 'Namespace', ns),
    h('p', {}, h('button', { type: 'submit', class: 'primary' }, 'Sign in')),
    out,
  );
  document.getElementById('nav')!.hidden = true;
  document.getElementById('signout')!.hidden = true;
  document.getElementById('who')!.textContent = '';
  show(form);
  token.focus();
}

const readyCell = (status: string, reason: string) =>
  h('span', { class: `status-${status}` }, `${status}${reason ? ` (${reason})` : ''}`);

async function overview() {
  const mine = routing;
  const o = await api<OverviewAnswer>('GET', nsPath('/overview'));
  // The user moved on while the answer was on its way.
  if (mine !== routing) return;
  show(
    h('h1', {}, `Overview of ${session.namespace}`),
    h(
      'div',
      { class: 'grid' },
      h(
        'section',
        {},
        h('h2', {}, 'Brokers'),
        table(
          ['Broker', 'Pool', 'Zone', 'Partitions', 'Address'],
          o.brokers.map((b) => [b.name, b.pool, b.zone || '—', b.partitions, b.address]),
          'brokers',
        ),
        h(
          'p',
          { class: 'muted' },
          ...o.pools.map((p) => `pool ${p.name}: ${p.readyReplicas}/${p.replicas} ready. `),
        ),
      ),
      h(
        'section',
        {},
        h('h2', {}, 'Needs attention'),
        o.notReady.length === 0
          ? h('p', { class: 'ok' }, 'Every condition is as it should be.')
          : table(
              ['Object', 'Condition', 'Reason', 'Message'],
              o.notReady.map((c) => [`${c.kind}/${c.name}`, `${c.type}=${c.status}`, c.reason, c.message]),
              'conditions that need attention',
            ),
      ),
    ),
    h('h2', {}, 'Topics'),
    table(
      ['Topic', 'Partitions', 'Storage', 'Ready'],
      o.topics.map((t) => [
        link(`#/topics/${t.name}`, t.name),
        t.partitions,
        t.storage,
        readyCell(t.ready, t.reason),
      ]),
      'topics',
    ),
    h('h2', {}, 'Consumer groups'),
    table(
      ['Group', 'Topic', 'Mode', 'Lag', 'Consumers', 'Ready'],
      o.groups.map((g) => [
        link(`#/groups/${g.name}`, g.name),
        link(`#/topics/${g.topic}`, g.topic),
        g.mode,
        g.totalLag,
        g.activeConsumers,
        readyCell(g.ready, g.reason),
      ]),
      'consumer groups',
    ),
  );
}

function conditionsTable(o: { status?: { conditions?: Condition[] } }) {
  return table(
    ['Type', 'Status', 'Reason', 'Message', 'Since'],
    (o.status?.conditions ?? []).map((c) => [
      c.type,
      h('span', { class: `status-${c.status}` }, c.status),
      c.reason,
      c.message,
      c.lastTransitionTime,
    ]),
    'conditions',
  );
}

/** The manifest editor: YAML of kind/metadata/spec, saved with PUT (the apiserver validates). */
function editor(kind: 'Topic' | 'ConsumerGroup', name: string | undefined, spec: object): HTMLElement {
  const manifest = { apiVersion: 'herald.dev/v1alpha1', kind, metadata: { name: name ?? '' }, spec };
  const text = h('textarea', {
    id: 'manifest',
    'aria-label': `${kind} manifest`,
    spellcheck: 'false',
  }) as HTMLTextAreaElement;
  text.value = toYaml(manifest);
  const out = h('div', { 'aria-live': 'polite' });
  const plural = kind === 'Topic' ? 'topics' : 'consumergroups';
  return h(
    'form',
    {
      class: 'card',
      onsubmit: (e: Event) => {
        e.preventDefault();
        let body: { metadata?: { name?: unknown } };
        try {
          body = parseYaml(text.value) as typeof body;
        } catch (err) {
          out.replaceChildren(
            problemBox(
              new ApiError({ status: 400, reason: 'INVALID_REQUEST', detail: String(err), metadata: {} }),
            ),
          );
          return;
        }
        const target = typeof body?.metadata?.name === 'string' ? body.metadata.name : '';
        api<WriteAnswer>('PUT', nsPath(`/${plural}/${encodeURIComponent(target)}`), body).then(
          (r) => {
            flash = h(
              'div',
              { class: 'ok', role: 'status' },
              `${kind} ${target} ${r.created ? 'created' : 'updated'}.`,
            );
            const next = `#/${kind === 'Topic' ? 'topics' : 'groups'}/${target}`;
            if (location.hash === next) void route();
            else location.hash = next;
          },
          (err: unknown) => out.replaceChildren(problemBox(err)),
        );
      },
    },
    h('label', { for: 'manifest' }, `${kind} manifest (YAML)`, text),
    h('p', {}, h('button', { type: 'submit', class: 'primary' }, name ? 'Save' : 'Create')),
    out,
  );
}

async function topicPage(name: string) {
  const mine = routing;
  const r = await api<TopicAnswer>('GET', nsPath(`/topics/${encodeURIComponent(name)}`));
  // The user moved on while the answer was on its way.
  if (mine !== routing) return;
  const t = r.topic;
  const s = r.series;
  const parts = t.spec.partitions;
  const rate = s.t.map((x, i) => {
    if (i === 0) return null;
    const sum = (row: number[]) => row.reduce((a, b) => a + b, 0);
    return ((sum(s.endOffset[i]) - sum(s.endOffset[i - 1])) * 1000) / Math.max(1, x - s.t[i - 1]);
  });
  show(
    h('h1', {}, `Topic ${name}`),
    h('h2', {}, 'Conditions'),
    conditionsTable(t),
    h('h2', {}, 'Partitions'),
    h('p', {}, link(`#/topics/${encodeURIComponent(name)}/messages?partition=0`, 'Browse messages')),
    table(
      ['Partition', 'Owner', 'Epoch', 'Address', ''],
      r.partitions.map((p) => [
        p.partition,
        p.broker,
        p.epoch,
        p.address,
        link(`#/topics/${encodeURIComponent(name)}/messages?partition=${p.partition}`, 'messages'),
      ]),
      'partitions',
    ),
    h(
      'div',
      { class: 'grid' },
      chart(
        'End offsets',
        s.t,
        Array.from({ length: parts }, (_, p) => ({
          label: `p${p}`,
          values: s.endOffset.map((row) => row[p] ?? null),
        })),
      ),
      chart('Publish rate (msg/s)', s.t, [{ label: 'msg/s', values: rate }]),
    ),
    h('h2', {}, 'Spec'),
    editor('Topic', name, t.spec),
  );
}

async function groupPage(name: string) {
  const mine = routing;
  const r = await api<GroupAnswer>('GET', nsPath(`/consumergroups/${encodeURIComponent(name)}`));
  // The user moved on while the answer was on its way.
  if (mine !== routing) return;
  const g = r.group;
  const s = r.series;
  const parts = s.lag[0]?.length ?? 0;
  show(
    h('h1', {}, `Consumer group ${name}`),
    h(
      'p',
      {},
      'Reads ',
      link(`#/topics/${g.spec.topic}`, g.spec.topic),
      ` (${g.spec.mode ?? 'clustering'}).`,
    ),
    h('h2', {}, 'Conditions'),
    conditionsTable(g),
    h('h2', {}, 'Lag'),
    r.lagError ? problemBox(new ApiError(r.lagError)) : null,
    r.lag
      ? table(
          [
            'Partition',
            'Consumer',
            'End offset',
            'Committed',
            'Lag',
            'In flight',
            'Retrying',
            'Dead letters',
          ],
          r.lag.map((p) => [
            p.partition,
            p.consumer || '—',
            p.endOffset,
            p.committedOffset,
            h('span', { 'data-lag': String(p.partition) }, p.lag),
            p.inFlight,
            h('span', { 'data-retrying': String(p.partition) }, p.pendingRetries),
            p.deadLetters,
          ]),
          'lag per partition',
        )
      : null,
    chart(
      'Lag per partition',
      s.t,
      Array.from({ length: parts }, (_, p) => ({
        label: `p${p}`,
        values: s.lag.map((row) => row[p] ?? null),
      })),
    ),
    h('h2', {}, 'Consumers'),
    table(
      ['Consumer', 'Zone', 'Partitions', 'Last heartbeat'],
      (g.status?.consumers ?? []).map((c) => [
        c.id,
        c.zone || '—',
        (c.partitions ?? []).join(', '),
        c.lastHeartbeat ?? '',
      ]),
      'consumers',
    ),
    h(
      'p',
      {},
      `Retries waiting: ${r.lag ? r.lag.reduce((n, p) => n + p.pendingRetries, 0) : 'unknown'} · dead letters: ${r.deadLetters ?? 'unknown'} `,
      link(
        `#/deadletters?topic=${encodeURIComponent(g.spec.topic)}&group=${encodeURIComponent(name)}`,
        'inspect',
      ),
      ` · retries: up to ${g.spec.retry?.maxRetries ?? 'the default'} per message`,
    ),
    h('h2', {}, 'Reset offsets'),
    resetForm(name),
    h('h2', {}, 'Spec'),
    editor('ConsumerGroup', name, g.spec),
  );
}

function resetForm(group: string): HTMLElement {
  const kind = h(
    'select',
    { id: 'reset-to', 'aria-label': 'reset to' },
    ...['earliest', 'latest', 'time', 'offset'].map((k) => h('option', { value: k }, k)),
  ) as HTMLSelectElement;
  const value = h('input', {
    id: 'reset-value',
    'aria-label': 'time (ISO) or offset',
    placeholder: 'time (ISO) or offset',
  }) as HTMLInputElement;
  const out = h('div', { 'aria-live': 'polite' });
  const target = (): Json => {
    if (kind.value === 'earliest') return { earliest: true };
    if (kind.value === 'latest') return { latest: true };
    if (kind.value === 'offset') return { offset: Number(value.value) };
    return { timestampMs: Date.parse(value.value) };
  };
  const path = nsPath(`/consumergroups/${encodeURIComponent(group)}/reset`);
  const preview = (e: Event) => {
    e.preventDefault();
    api<ResetAnswer>('POST', path, { target: target(), preview: true }).then(
      (r) => {
        if (!('preview' in r)) return;
        const confirm = h(
          'button',
          {
            type: 'button',
            class: 'danger',
            id: 'reset-confirm',
            onclick: () =>
              void api<ResetAnswer>('POST', path, { target: target() }).then(
                (done) => {
                  if (!('partitions' in done)) return;
                  flash = h(
                    'div',
                    { class: 'ok', role: 'status' },
                    `Offsets reset on ${done.partitions.length} partition(s).`,
                  );
                  void route();
                },
                (err: unknown) => out.replaceChildren(problemBox(err)),
              ),
          },
          'Confirm reset',
        );
        out.replaceChildren(
          table(
            ['Partition', 'Consumer', 'Lag now', 'Lag after'],
            r.preview.map((p) => [
              p.partition,
              p.consumer || '—',
              p.lag,
              p.newLag === undefined ? 'decided by the broker' : `${p.atMost ? '≤ ' : ''}${p.newLag}`,
            ]),
            'reset preview',
          ),
          confirm,
        );
        confirm.focus();
      },
      (err: unknown) => out.replaceChildren(problemBox(err)),
    );
  };
  return h(
    'div',
    { class: 'card' },
    h(
      'form',
      { class: 'inline', onsubmit: preview },
      h('label', {}, 'To', kind),
      h('label', {}, 'Value', value),
      h('button', { type: 'submit', id: 'reset-preview' }, 'Preview'),
    ),
    out,
  );
}

function tracePage(params: URLSearchParams) {
  const topic = h('input', { id: 'trace-topic', value: params.get('topic') ?? '' }) as HTMLInputElement;
  const refKey = h('input', { id: 'trace-ref', value: params.get('refKey') ?? '' }) as HTMLInputElement;
  const messageId = h('input', { id: 'trace-id', value: params.get('messageId') ?? '' }) as HTMLInputElement;
  const out = h('div', { 'aria-live': 'polite' });
  const search = () => {
    const q = new URLSearchParams(
      messageId.value ? { messageId: messageId.value } : { topic: topic.value, refKey: refKey.value },
    );
    api<TraceAnswer>('GET', nsPath(`/trace?${q}`)).then(
      (r) =>
        out.replaceChildren(
          r.events.length === 0
            ? h('p', {}, 'No recorded events.')
            : h(
                'ol',
                { class: 'timeline', 'aria-label': 'timeline' },
                ...r.events.map((e) =>
                  h(
                    'li',
                    {},
                    h('span', { class: 'event' }, e.event),
                    ` ${time(e.atMs)} · ${e.messageId} · p${e.partition}/${e.offset}`,
                    e.group ? ` · group ${e.group}` : '',
                    e.consumerId ? ` · consumer ${e.consumerId}` : '',
                    e.attempt ? ` · attempt ${e.attempt}` : '',
                    e.broker ? ` · ${e.broker}` : '',
                    Object.keys(e.detail ?? {}).length
                      ? h('div', { class: 'muted' }, JSON.stringify(e.detail))
                      : null,
                  ),
                ),
              ),
        ),
      (err: unknown) => out.replaceChildren(problemBox(err)),
    );
  };
  show(
    h('h1', {}, 'Trace a message'),
    h(
      'form',
      {
        class: 'inline card',
        onsubmit: (e: Event) => {
          e.preventDefault();
          search();
        },
      },
      h('label', {}, 'Topic', topic),
      h('label', {}, 'Ref key', refKey),
      h('span', {}, 'or'),
      h('label', {}, 'Message id', messageId),
      h('button', { type: 'submit', class: 'primary' }, 'Search'),
    ),
    out,
  );
  if (messageId.value || (topic.value && refKey.value)) search();
}

function deadLettersPage(params: URLSearchParams) {
  const topic = h('input', {
    id: 'dl-topic',
    value: params.get('topic') ?? '',
    required: true,
  }) as HTMLInputElement;
  const group = h('input', {
    id: 'dl-group',
    value: params.get('group') ?? '',
    required: true,
  }) as HTMLInputElement;
  const since = h('input', { id: 'dl-since', type: 'datetime-local' }) as HTMLInputElement;
  const until = h('input', { id: 'dl-until', type: 'datetime-local' }) as HTMLInputElement;
  const out = h('div', { 'aria-live': 'polite' });
  const detail = h('div', {});
  const selection = () =>
    [...out.querySelectorAll<HTMLInputElement>('input[type=checkbox]:checked')].map((c) => Number(c.value));
  const act = (action: 'replay' | 'purge') => {
    const ids = selection();
    if (ids.length === 0) {
      detail.replaceChildren(
        h('div', { class: 'problem', role: 'alert' }, 'Select at least one dead letter.'),
      );
      return;
    }
    const yes = h(
      'button',
      {
        type: 'button',
        class: 'danger',
        id: 'dl-confirm',
        onclick: () =>
          void api<{ replayed?: number; purged?: number }>('POST', nsPath(`/deadletters/${action}`), {
            topic: topic.value,
            group: group.value,
            ids,
          }).then(
            (r) => {
              detail.replaceChildren(
                h(
                  'div',
                  { class: 'ok', role: 'status' },
                  action === 'replay' ? `Replayed ${r.replayed}.` : `Purged ${r.purged}.`,
                ),
              );
              load();
            },
            (err: unknown) => detail.replaceChildren(problemBox(err)),
          ),
      },
      `Yes, ${action} ${ids.length}`,
    );
    detail.replaceChildren(
      h(
        'div',
        { class: 'card', role: 'alertdialog', 'aria-label': `confirm ${action}` },
        h(
          'p',
          {},
          `${action === 'replay' ? 'Send' : 'Delete'} ${ids.length} dead letter(s) of ${group.value}${action === 'replay' ? ' back to the group' : ' for good'}?`,
        ),
        yes,
        ' ',
        h('button', { type: 'button', onclick: () => detail.replaceChildren() }, 'Cancel'),
      ),
    );
    yes.focus();
  };
  const load = () => {
    const q = new URLSearchParams({ topic: topic.value, group: group.value });
    if (since.value) q.set('sinceMs', String(Date.parse(since.value)));
    if (until.value) q.set('untilMs', String(Date.parse(until.value)));
    api<DeadLettersAnswer>('GET', nsPath(`/deadletters?${q}`)).then(
      (r) =>
        out.replaceChildren(
          h('p', {}, `${r.deadLetters.length} dead letter(s).`),
          table(
            ['', 'Id', 'Message', 'Key', 'Attempts', 'Reason', 'Last error', 'Dead at', ''],
            r.deadLetters.map((d) => [
              h('input', {
                type: 'checkbox',
                value: String(d.id),
                'aria-label': `select dead letter ${d.id}`,
              }),
              d.id,
              d.message.messageId,
              d.message.key,
              d.attempts,
              d.reason,
              d.lastError,
              time(d.deadAtMs),
              h(
                'button',
                {
                  type: 'button',
                  onclick: () =>
                    detail.replaceChildren(
                      h(
                        'div',
                        { class: 'card' },
                        h('h2', {}, `Dead letter ${d.id}`),
                        h('p', {}, h('strong', {}, 'Last error: '), d.lastError || '—'),
                        h('pre', {}, d.message.bodyText ?? `(binary, base64) ${d.message.body}`),
                        h(
                          'pre',
                          {},
                          JSON.stringify({ ...d.message, body: undefined, bodyText: undefined }, null, 2),
                        ),
                      ),
                    ),
                },
                'Inspect',
              ),
            ]),
            'dead letters',
          ),
          h(
            'p',
            {},
            h('button', { type: 'button', id: 'dl-replay', onclick: () => act('replay') }, 'Replay selected'),
            ' ',
            h(
              'button',
              { type: 'button', class: 'danger', id: 'dl-purge', onclick: () => act('purge') },
              'Purge selected',
            ),
          ),
        ),
      (err: unknown) => out.replaceChildren(problemBox(err)),
    );
  };
  show(
    h('h1', {}, 'Dead letters'),
    h(
      'form',
      {
        class: 'inline card',
        onsubmit: (e: Event) => {
          e.preventDefault();
          load();
        },
      },
      h('label', {}, 'Topic', topic),
      h('label', {}, 'Group', group),
      h('label', {}, 'Since', since),
      h('label', {}, 'Until', until),
      h('button', { type: 'submit', class: 'primary' }, 'List'),
    ),
    out,
    detail,
  );
  if (topic.value && group.value) load();
}

/** Bodies longer than this show cut, with a button that shows all of it. */
const BODY_PREVIEW = 2048;

/** A body for people: its text when it is UTF-8, else a hex dump; cut at `max` bytes. */
function bodyView(m: MessageJson, max: number): { text: string; cut: boolean } {
  if (m.bodyText !== undefined) return { text: m.bodyText.slice(0, max), cut: m.bodyText.length > max };
  const bytes = Uint8Array.from(atob(m.body), (c) => c.charCodeAt(0));
  const lines: string[] = [];
  for (let i = 0; i < Math.min(bytes.length, max); i += 16) {
    const row = [...bytes.slice(i, Math.min(i + 16, max))];
    const hex = row.map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const ascii = row.map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${i.toString(16).padStart(6, '0')}  ${hex.padEnd(47)}  ${ascii}`);
  }
  return { text: `(binary, ${bytes.length} bytes)\n${lines.join('\n')}`, cut: bytes.length > max };
}

function messageDetail(m: MessageJson): HTMLElement {
  const body = h('pre', { id: 'msg-body' });
  const render = (max: number) => {
    const v = bodyView(m, max);
    body.replaceChildren(v.text);
    if (v.cut)
      body.after(
        h(
          'button',
          {
            type: 'button',
            id: 'msg-show-all',
            onclick: (e: Event) => {
              (e.target as HTMLElement).remove();
              render(Infinity);
            },
          },
          'Show all',
        ),
      );
  };
  const card = h(
    'div',
    { class: 'card', role: 'region', 'aria-label': `message ${m.messageId}` },
    h('h2', {}, `Message ${m.messageId}`),
    h(
      'p',
      {},
      link(`#/trace?messageId=${encodeURIComponent(m.messageId)}`, 'Trace it'),
      ` · published ${time(m.publishTimeMs)}`,
      m.priority ? ' · priority lane' : '',
      m.scheduledId ? ` · published delayed as ${m.scheduledId}, due ${time(m.deliverAtMs)}` : '',
    ),
    h(
      'pre',
      {},
      JSON.stringify({ key: m.key, refKey: m.refKey, tags: m.tags, properties: m.properties }, null, 2),
    ),
    body,
  );
  render(BODY_PREVIEW);
  return card;
}

async function messagesPage(name: string, params: URLSearchParams) {
  const mine = routing;
  const t = (await api<TopicAnswer>('GET', nsPath(`/topics/${encodeURIComponent(name)}`))).topic;
  if (mine !== routing) return;
  const base = `#/topics/${encodeURIComponent(name)}/messages`;
  const partition = Number(params.get('partition') ?? 0);
  const limit = params.get('limit') ?? '20';
  const partitionBox = h(
    'select',
    { id: 'msg-partition' },
    ...Array.from({ length: t.spec.partitions }, (_, p) =>
      h('option', { value: String(p), ...(p === partition ? { selected: true } : {}) }, `${p}`),
    ),
  ) as HTMLSelectElement;
  const offset = h('input', {
    id: 'msg-offset',
    inputmode: 'numeric',
    value: params.get('offset') ?? '',
    placeholder: 'oldest',
  }) as HTMLInputElement;
  const at = h('input', {
    id: 'msg-time',
    value: params.get('time') ?? '',
    placeholder: '2026-05-01T12:00:00Z',
  }) as HTMLInputElement;
  const limitBox = h(
    'select',
    { id: 'msg-limit' },
    ...['20', '50', '100'].map((n) =>
      h('option', { value: n, ...(n === limit ? { selected: true } : {}) }, n),
    ),
  ) as HTMLSelectElement;
  const out = h('div', { 'aria-live': 'polite' });
  const detail = h('div', {});
  const hashOf = (from: { offset?: number | string; time?: string }) => {
    const q = new URLSearchParams({ partition: partitionBox.value, limit: limitBox.value });
    if (from.time) q.set('time', from.time);
    else if (from.offset !== undefined && from.offset !== '') q.set('offset', String(from.offset));
    return `${base}?${q}`;
  };
  show(
    h('h1', {}, 'Messages of topic ', link(`#/topics/${encodeURIComponent(name)}`, name)),
    h(
      'form',
      {
        class: 'inline card',
        onsubmit: (e: Event) => {
          e.preventDefault();
          location.hash = hashOf({ offset: offset.value.trim(), time: at.value.trim() });
        },
      },
      h('label', {}, 'Partition', partitionBox),
      h('label', {}, 'From offset', offset),
      h('span', {}, 'or'),
      h('label', {}, 'From time (UTC)', at),
      h('label', {}, 'Per page', limitBox),
      h('button', { type: 'submit', class: 'primary', id: 'msg-show' }, 'Show'),
    ),
    out,
    detail,
  );
  const q = new URLSearchParams({ partition: String(partition), limit });
  const timeText = params.get('time');
  if (timeText) {
    const ms = /^\d+$/.test(timeText) ? Number(timeText) : Date.parse(timeText);
    if (!Number.isFinite(ms)) {
      out.replaceChildren(
        h(
          'div',
          { class: 'problem', role: 'alert' },
          `Not a time: ${timeText} (ISO 8601, e.g. 2026-05-01T12:00:00Z)`,
        ),
      );
      return;
    }
    q.set('timestampMs', String(ms));
  } else if (params.get('offset')) q.set('offset', params.get('offset')!);
  let r: MessagesAnswer;
  try {
    r = await api<MessagesAnswer>('GET', nsPath(`/topics/${encodeURIComponent(name)}/messages?${q}`));
  } catch (err) {
    out.replaceChildren(problemBox(err));
    return;
  }
  if (mine !== routing) return;
  const n = Number(limit);
  const older = Math.max(r.firstOffset, r.startOffset - n);
  const pager = h(
    'p',
    { class: 'pager' },
    r.startOffset > r.firstOffset
      ? h('a', { href: hashOf({ offset: older }), id: 'msg-older' }, '← Older')
      : h('span', { class: 'muted' }, '← Older'),
    ' · ',
    r.nextOffset <= r.endOffset
      ? h('a', { href: hashOf({ offset: r.nextOffset }), id: 'msg-newer' }, 'Newer →')
      : h('span', { class: 'muted' }, 'Newer →'),
  );
  const last = r.messages[r.messages.length - 1];
  out.replaceChildren(
    ...(r.startMoved
      ? [
          h(
            'div',
            { class: 'problem', role: 'status' },
            `Offsets before ${r.firstOffset} are no longer retained: showing from ${r.firstOffset}.`,
          ),
        ]
      : []),
    h(
      'p',
      {},
      `Partition ${partition} retains offsets ${r.firstOffset}–${r.endOffset}. `,
      r.messages.length ? `Showing ${r.messages[0].offset}–${last.offset}.` : 'No messages from there on.',
      r.bytesLimited ? ' (The page stopped at its size limit.)' : '',
    ),
    pager,
    table(
      ['Offset', 'Published', 'Key', 'Ref key', 'Tags', 'Body', ''],
      r.messages.map((m) => [
        m.offset,
        time(m.publishTimeMs),
        m.key,
        m.refKey,
        m.tags.join(', '),
        h('span', { class: 'muted' }, bodyView(m, 60).text.split('\n').slice(0, 2).join(' ')),
        h(
          'button',
          {
            type: 'button',
            'aria-label': `inspect message ${m.offset}`,
            onclick: () => {
              detail.replaceChildren(messageDetail(m));
              detail.querySelector('h2')?.scrollIntoView();
            },
          },
          'Inspect',
        ),
      ]),
      'messages',
    ),
  );
}

function newPage(kind: string) {
  if (kind === 'topic')
    show(h('h1', {}, 'New topic'), editor('Topic', undefined, { partitions: 3, storage: 'mysql' }));
  else
    show(
      h('h1', {}, 'New consumer group'),
      editor('ConsumerGroup', undefined, { topic: '', mode: 'clustering' }),
    );
}

// ---- routing -----------------------------------------------------------------------------

let refresh: number | undefined;
/** The latest route() call: an earlier one still awaiting the API stops there. */
let routing = 0;

async function route(): Promise<void> {
  const current = ++routing;
  clearInterval(refresh);
  if (!session.token) return signIn();
  let who: SessionAnswer;
  try {
    who = await api<SessionAnswer>('GET', '/session');
  } catch (err) {
    session.clear();
    return signIn(err instanceof ApiError ? `${err.problem.reason}: ${err.problem.detail}` : String(err));
  }
  if (current !== routing) return;
  document.getElementById('nav')!.hidden = false;
  document.getElementById('signout')!.hidden = false;
  document.getElementById('who')!.textContent = `${who.subject} · ${session.namespace}`;
  const [path, query = ''] = location.hash.replace(/^#/, '').split('?');
  const params = new URLSearchParams(query);
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const live = (load: () => Promise<void>) => {
    clearInterval(refresh);
    refresh = window.setInterval(() => {
      // Keep what the user is typing: refresh only while no form field has the focus.
      if (
        !(
          document.activeElement instanceof HTMLInputElement ||
          document.activeElement instanceof HTMLTextAreaElement ||
          document.activeElement instanceof HTMLSelectElement
        ) &&
        !main().querySelector('#reset-confirm')
      )
        load().catch(() => undefined);
    }, 5000);
    return load();
  };
  try {
    if (parts[0] === 'topics' && parts[1] && parts[2] === 'messages') await messagesPage(parts[1], params);
    else if (parts[0] === 'topics' && parts[1]) await live(() => topicPage(parts[1]));
    else if (parts[0] === 'groups' && parts[1]) await live(() => groupPage(parts[1]));
    else if (parts[0] === 'trace') tracePage(params);
    else if (parts[0] === 'deadletters') deadLettersPage(params);
    else if (parts[0] === 'new') newPage(parts[1] ?? 'topic');
    else await live(overview);
  } catch (err) {
    show(problemBox(err));
  }
  main().focus({ preventScroll: true });
}

document.getElementById('signout')!.addEventListener('click', () => {
  session.clear();
  if (location.hash === '#/') void route();
  else location.hash = '#/';
});
window.addEventListener('hashchange', () => void route());
void route();
