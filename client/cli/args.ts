// The herald command line, parsed into a Command without touching anything: flags are checked
// here (a UsageError names the flag), so main.ts only runs what was asked. Pure; unit-tested.
import { parseArgs } from 'node:util';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type Output = 'table' | 'json';

export interface Global {
  meta: string | undefined;
  broker: string | undefined;
  namespace: string;
  output: Output;
  /** Per-call timeout. */
  timeoutMs: number;
  /** TLS and credentials (client/security.ts); undefined fields fall back to the in-pod defaults. */
  caFile: string | undefined;
  certFile: string | undefined;
  keyFile: string | undefined;
  token: string | undefined;
  tokenFile: string | undefined;
}

/** Where publish reads messages: the arguments, stdin, or a file. */
export type Source = { from: 'args'; texts: string[] } | { from: 'stdin' } | { from: 'file'; path: string };

export type ResetTarget =
  { earliest: true } | { latest: true } | { timestampMs: number } | { offset: number };

export type DeadLetterSelection = { ids: number[]; sinceMs: number; untilMs: number };

export type Command =
  | { name: 'help'; about: string | undefined }
  | {
      name: 'publish';
      topic: string;
      source: Source;
      /** One message per line of the input instead of the whole input as one. */
      lines: boolean;
      key: string | undefined;
      partition: number | undefined;
      tags: string[];
      refKey: string | undefined;
      properties: Record<string, string>;
      priority: boolean;
      delayMs: number | undefined;
      deliverAtMs: number | undefined;
    }
  | {
      name: 'consume';
      topic: string | undefined;
      group: string;
      follow: boolean;
      max: number | undefined;
      ack: boolean;
      /** Without --follow: stop once nothing arrived for this long. */
      idleMs: number;
      partitions: number[];
    }
  | { name: 'trace'; query: { messageId: string } | { refKey: string; topic: string }; limit: number }
  | { name: 'lag'; group: string; topic: string }
  | {
      name: 'dlq-list';
      topic: string;
      group: string;
      consumer: string;
      sinceMs: number;
      untilMs: number;
      limit: number;
    }
  | {
      name: 'dlq-replay' | 'dlq-purge';
      topic: string;
      group: string;
      consumer: string;
      selection: DeadLetterSelection;
    }
  | {
      name: 'reset-offsets';
      group: string;
      consumer: string;
      topic: string;
      target: ResetTarget;
      partitions: number[];
    }
  | {
      name: 'peek';
      topic: string;
      partition: number;
      from: { offset: number } | { timestampMs: number };
      limit: number;
    }
  | { name: 'topics-list' };

export interface Parsed {
  global: Global;
  command: Command;
}

const OPTIONS = {
  meta: { type: 'string' },
  broker: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  output: { type: 'string', short: 'o' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  'cert-key': { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  key: { type: 'string' },
  partition: { type: 'string', multiple: true },
  tag: { type: 'string', multiple: true },
  'ref-key': { type: 'string' },
  property: { type: 'string', multiple: true },
  priority: { type: 'boolean' },
  delay: { type: 'string' },
  'deliver-at': { type: 'string' },
  file: { type: 'string', short: 'f' },
  lines: { type: 'boolean' },
  group: { type: 'string', short: 'g' },
  consumer: { type: 'string' },
  topic: { type: 'string', short: 't' },
  follow: { type: 'boolean' },
  max: { type: 'string' },
  ack: { type: 'boolean' },
  'no-ack': { type: 'boolean' },
  idle: { type: 'string' },
  limit: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  all: { type: 'boolean' },
  to: { type: 'string' },
  offset: { type: 'string' },
} as const;

type Flag = keyof typeof OPTIONS;
type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

const GLOBAL_FLAGS: Flag[] = [
  'meta',
  'broker',
  'namespace',
  'output',
  'timeout',
  'help',
  'ca',
  'cert',
  'cert-key',
  'token',
  'token-file',
];

/** The flags each command accepts besides the global ones. */
export const COMMAND_FLAGS: Record<string, Flag[]> = {
  publish: [
    'key',
    'partition',
    'tag',
    'ref-key',
    'property',
    'priority',
    'delay',
    'deliver-at',
    'file',
    'lines',
  ],
  consume: ['group', 'topic', 'follow', 'max', 'ack', 'no-ack', 'idle', 'partition'],
  trace: ['ref-key', 'topic', 'limit'],
  lag: ['group', 'topic'],
  'dlq list': ['topic', 'group', 'consumer', 'since', 'until', 'limit'],
  'dlq replay': ['topic', 'group', 'consumer', 'since', 'until', 'all'],
  'dlq purge': ['topic', 'group', 'consumer', 'since', 'until', 'all'],
  'reset-offsets': ['group', 'consumer', 'topic', 'to', 'offset', 'partition'],
  'topics list': [],
  peek: ['partition', 'offset', 'since', 'limit'],
};

export function parseCommandLine(
  argv: string[],
  env: Record<string, string | undefined>,
  now = Date.now(),
): Parsed {
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values: v, positionals } = parsed;
  const global = globals(v, env);
  const [word, sub, ...rest] = positionals;
  if (v.help || word === undefined || word === 'help') {
    return { global, command: { name: 'help', about: word === 'help' ? sub : word } };
  }
  const name =
    word === 'dlq' || word === 'topics' ? `${word} ${sub ?? (word === 'topics' ? 'list' : '')}` : word;
  const allowed = COMMAND_FLAGS[name];
  if (!allowed) throw new UsageError(`unknown command "${name.trim()}"; see herald --help`);
  const args = word === 'dlq' || word === 'topics' ? rest : [sub, ...rest].filter((a) => a !== undefined);
  for (const flag of Object.keys(v) as Flag[]) {
    if (!GLOBAL_FLAGS.includes(flag) && !allowed.includes(flag)) {
      throw new UsageError(`--${flag} is not an option of "herald ${name}"`);
    }
  }
  return { global, command: command(name, args, v, now) };
}

function globals(v: Values, env: Record<string, string | undefined>): Global {
  const output = v.output ?? 'table';
  if (output !== 'table' && output !== 'json')
    throw new UsageError(`-o must be table or json, got "${output}"`);
  const meta = v.meta ?? env.HERALD_META;
  const broker = v.broker ?? env.HERALD_BROKER;
  return {
    meta: meta || undefined,
    broker: broker || undefined,
    namespace: v.namespace ?? env.HERALD_NAMESPACE ?? 'default',
    output,
    timeoutMs: v.timeout === undefined ? 10_000 : duration('--timeout', v.timeout),
    caFile: v.ca ?? (env.HERALD_CA_FILE || undefined),
    certFile: v.cert,
    keyFile: v['cert-key'],
    // A token on the command line shows in `ps`: $HERALD_TOKEN or --token-file are better.
    token: v.token ?? (env.HERALD_TOKEN || undefined),
    tokenFile: v['token-file'] ?? (env.HERALD_TOKEN_FILE || undefined),
  };
}

function command(name: string, args: string[], v: Values, now: number): Command {
  switch (name) {
    case 'publish': {
      const [topic, ...texts] = args;
      if (!topic) throw new UsageError('publish needs a topic: herald publish <topic> [message...]');
      if (texts.length > 0 && v.file !== undefined)
        throw new UsageError('give messages as arguments or --file, not both');
      const partitions = ints('--partition', v.partition ?? [], 0);
      if (partitions.length > 1) throw new UsageError('--partition may be given once for publish');
      if (partitions.length > 0 && v.key !== undefined)
        throw new UsageError('--partition and --key are exclusive');
      if (v.delay !== undefined && v['deliver-at'] !== undefined) {
        throw new UsageError('--delay and --deliver-at are exclusive');
      }
      const source: Source =
        texts.length > 0
          ? { from: 'args', texts }
          : v.file !== undefined && v.file !== '-'
            ? { from: 'file', path: v.file }
            : { from: 'stdin' };
      return {
        name,
        topic,
        source,
        lines: v.lines === true,
        key: v.key,
        partition: partitions[0],
        tags: v.tag ?? [],
        refKey: v['ref-key'],
        properties: properties(v.property ?? []),
        priority: v.priority === true,
        delayMs: v.delay === undefined ? undefined : duration('--delay', v.delay),
        deliverAtMs: v['deliver-at'] === undefined ? undefined : time('--deliver-at', v['deliver-at'], now),
      };
    }
    case 'consume': {
      if (args.length > 1) throw new UsageError('consume takes at most one topic');
      if (v.ack && v['no-ack']) throw new UsageError('--ack and --no-ack are exclusive');
      return {
        name,
        topic: args[0] ?? v.topic,
        group: required('--group', v.group),
        follow: v.follow === true,
        max: v.max === undefined ? undefined : ints('--max', [v.max], 1)[0],
        ack: v['no-ack'] !== true,
        idleMs: v.idle === undefined ? 3_000 : duration('--idle', v.idle),
        partitions: ints('--partition', v.partition ?? [], 0),
      };
    }
    case 'trace': {
      const limit = v.limit === undefined ? 0 : ints('--limit', [v.limit], 1)[0];
      if (v['ref-key'] !== undefined) {
        if (args.length > 0) throw new UsageError('give a message id or --ref-key, not both');
        return { name, query: { refKey: v['ref-key'], topic: required('--topic', v.topic) }, limit };
      }
      if (args.length !== 1)
        throw new UsageError('trace needs a message id (topic/partition/offset) or --ref-key with --topic');
      if (!/^[^/]+\/\d+\/d?\d+$/.test(args[0])) {
        throw new UsageError(`a message id looks like orders/3/17 or orders/3/d5, got "${args[0]}"`);
      }
      return { name, query: { messageId: args[0] }, limit };
    }
    case 'lag':
      noArgs(name, args);
      return { name, group: required('--group', v.group), topic: required('--topic', v.topic) };
    case 'dlq list':
      noArgs(name, args);
      return {
        name: 'dlq-list',
        topic: required('--topic', v.topic),
        group: required('--group', v.group),
        consumer: v.consumer ?? '',
        sinceMs: v.since === undefined ? 0 : time('--since', v.since, now),
        untilMs: v.until === undefined ? 0 : time('--until', v.until, now),
        limit: v.limit === undefined ? 100 : ints('--limit', [v.limit], 1)[0],
      };
    case 'dlq replay':
    case 'dlq purge': {
      const ids = ints('dead-letter id', args, 1);
      const sinceMs = v.since === undefined ? 0 : time('--since', v.since, now);
      const untilMs = v.until === undefined ? 0 : time('--until', v.until, now);
      if (ids.length === 0 && sinceMs === 0 && untilMs === 0 && v.all !== true) {
        throw new UsageError(`${name} needs dead-letter ids, --since/--until, or --all`);
      }
      return {
        name: name === 'dlq replay' ? 'dlq-replay' : 'dlq-purge',
        topic: required('--topic', v.topic),
        group: required('--group', v.group),
        consumer: v.consumer ?? '',
        selection: { ids, sinceMs, untilMs },
      };
    }
    case 'reset-offsets': {
      noArgs(name, args);
      if ((v.to === undefined) === (v.offset === undefined)) {
        throw new UsageError(
          'reset-offsets needs exactly one of --to earliest|latest|<time> and --offset <n>',
        );
      }
      const target: ResetTarget =
        v.offset !== undefined
          ? { offset: ints('--offset', [v.offset], 0)[0] }
          : v.to === 'earliest'
            ? { earliest: true }
            : v.to === 'latest'
              ? { latest: true }
              : { timestampMs: time('--to', v.to ?? '', now) };
      return {
        name,
        group: required('--group', v.group),
        consumer: v.consumer ?? '',
        topic: required('--topic', v.topic),
        target,
        partitions: ints('--partition', v.partition ?? [], 0),
      };
    }
    case 'peek': {
      if (args.length !== 1) throw new UsageError('peek needs one topic: herald peek <topic> --partition N');
      const partitions = ints('--partition', v.partition ?? [], 0);
      if (partitions.length !== 1) throw new UsageError('peek needs --partition N, once');
      if (v.offset !== undefined && v.since !== undefined)
        throw new UsageError('--offset and --since are exclusive');
      return {
        name,
        topic: args[0],
        partition: partitions[0],
        from:
          v.since !== undefined
            ? { timestampMs: time('--since', v.since, now) }
            : { offset: v.offset === undefined ? 0 : ints('--offset', [v.offset], 0)[0] },
        limit: v.limit === undefined ? 0 : ints('--limit', [v.limit], 1)[0],
      };
    }
    case 'topics list':
      noArgs(name, args);
      return { name: 'topics-list' };
    default:
      throw new UsageError(`unknown command "${name}"`);
  }
}

function noArgs(name: string, args: string[]): void {
  if (args.length > 0) throw new UsageError(`${name} takes no arguments, got "${args.join(' ')}"`);
}

function required(flag: string, value: string | undefined): string {
  if (value === undefined || value === '') throw new UsageError(`${flag} is required`);
  return value;
}

function ints(what: string, values: string[], min: number): number[] {
  return values.map((s) => {
    const n = Number(s);
    if (!/^\d+$/.test(s) || !Number.isSafeInteger(n) || n < min) {
      throw new UsageError(`${what} must be an integer >= ${min}, got "${s}"`);
    }
    return n;
  });
}

function properties(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const at = p.indexOf('=');
    if (at < 1) throw new UsageError(`--property must be name=value, got "${p}"`);
    out[p.slice(0, at)] = p.slice(at + 1);
  }
  return out;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "500ms", "10s", "2m", "1h", "1d" (a unit is required) as milliseconds. */
export function duration(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text);
  if (!m) throw new UsageError(`${flag} must be a duration such as 500ms, 10s, 5m, 1h or 1d, got "${text}"`);
  return Math.round(Number(m[1]) * UNITS[m[2]]);
}

/** An ISO 8601 time ("2026-05-01T12:00:00Z"), ms since the epoch, or a duration ago ("1h"). */
export function time(flag: string, text: string, now: number): number {
  if (/^\d{10,}$/.test(text)) return Number(text);
  if (/^\d+(\.\d+)?(ms|s|m|h|d)$/.test(text)) return now - duration(flag, text);
  const t = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : NaN;
  if (!Number.isFinite(t)) {
    throw new UsageError(
      `${flag} must be an ISO 8601 time, ms since the epoch, or a duration ago (1h), got "${text}"`,
    );
  }
  return t;
}
