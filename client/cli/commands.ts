// Runs a parsed herald command with the SDK. Output goes through `io` so tests can capture it;
// results on stdout, progress and errors on stderr.
import { Admin, Consumer, HeraldError, Producer } from '../index';
import type { ConnectionOptions, Input, OutgoingMessage, SendResult } from '../index';
import type { Command, Global } from './args';
import { UsageError } from './args';
import { EXIT } from './exit-codes';
import {
  DEAD_LETTER_COLUMNS,
  BROADCAST_LAG_COLUMNS,
  LAG_COLUMNS,
  RESET_COLUMNS,
  SEND_COLUMNS,
  TOPIC_COLUMNS,
  TRACE_COLUMNS,
  deadLetterRecord,
  deliveryLine,
  deliveryRecord,
  peekSummary,
  jsonLines,
  sendRecord,
  splitMessages,
  table,
  traceRecord,
} from './format';
import type { Column } from './format';
import { USAGE } from './help';

export interface Io {
  out(text: string): void;
  err(text: string): void;
  readStdin(): Promise<string>;
  readFile(path: string): Promise<string>;
  /** Resolves when the user interrupts (Ctrl-C). */
  interrupted: Promise<void>;
}

export async function runCommand(global: Global, command: Command, io: Io): Promise<number> {
  const connection: Input<ConnectionOptions> = {
    meta: global.meta,
    broker: global.broker,
    namespace: global.namespace,
    callTimeoutMs: global.timeoutMs,
    caFile: global.caFile,
    certFile: global.certFile,
    keyFile: global.keyFile,
    token: global.token,
    tokenFile: global.tokenFile,
  };
  const print = <T>(rows: T[], columns: Column<T>[], record: (r: T) => object = (r) => r as object) =>
    io.out(global.output === 'json' ? jsonLines(rows.map(record)) : table(rows, columns));

  switch (command.name) {
    case 'help':
      io.out(USAGE);
      return EXIT.OK;
    case 'publish':
      return publish(global, command, connection, io);
    case 'consume':
      return consume(global, command, connection, io);
    default:
      break;
  }
  const admin = new Admin(connection);
  try {
    switch (command.name) {
      case 'trace': {
        const events = await admin.trace(command.query, command.limit);
        if (events.length === 0) {
          io.err('herald: no trace events recorded for that message\n');
          return EXIT.NOT_FOUND;
        }
        print(events, TRACE_COLUMNS, traceRecord);
        return EXIT.OK;
      }
      case 'lag': {
        const lag = await admin.lag(command.group, command.topic);
        print(lag, lag.some((p) => p.consumer !== '') ? BROADCAST_LAG_COLUMNS : LAG_COLUMNS);
        if (global.output === 'table') io.err(`total lag: ${lag.reduce((n, p) => n + p.lag, 0)}\n`);
        return EXIT.OK;
      }
      case 'dlq-list': {
        const rows = [];
        for await (const d of admin.deadLetters(command, Math.min(command.limit, 1000))) {
          rows.push(d);
          if (rows.length >= command.limit) break;
        }
        print(rows, DEAD_LETTER_COLUMNS, deadLetterRecord);
        return EXIT.OK;
      }
      case 'dlq-replay':
      case 'dlq-purge': {
        const query = {
          topic: command.topic,
          group: command.group,
          consumer: command.consumer,
          ...command.selection,
        };
        const n =
          command.name === 'dlq-replay'
            ? await admin.replayDeadLetters(query)
            : await admin.purgeDeadLetters(query);
        const verb = command.name === 'dlq-replay' ? 'replayed' : 'purged';
        if (global.output === 'json') io.out(jsonLines([{ [verb]: n }]));
        else io.out(`${verb} ${n} dead letter${n === 1 ? '' : 's'}\n`);
        return EXIT.OK;
      }
      case 'reset-offsets':
        print(
          await admin.resetOffsets(
            command.group,
            command.topic,
            command.target,
            command.partitions,
            command.consumer,
          ),
          RESET_COLUMNS,
        );
        return EXIT.OK;
      case 'peek': {
        const page = await admin.peek(command.topic, command.partition, command.from, command.limit);
        if (global.output === 'json') io.out(jsonLines(page.messages.map(deliveryRecord)));
        else for (const m of page.messages) io.out(deliveryLine(m));
        if (global.output === 'table') io.err(peekSummary(page));
        return EXIT.OK;
      }
      case 'topics-list':
        print(await admin.topics(), TOPIC_COLUMNS);
        return EXIT.OK;
    }
  } finally {
    admin.close();
  }
}

async function publish(
  global: Global,
  c: Extract<Command, { name: 'publish' }>,
  connection: Input<ConnectionOptions>,
  io: Io,
): Promise<number> {
  const texts =
    c.source.from === 'args'
      ? c.source.texts
      : splitMessages(
          c.source.from === 'file' ? await io.readFile(c.source.path) : await io.readStdin(),
          c.lines,
        );
  if (texts.length === 0) throw new UsageError('no message to publish (the input was empty)');
  const producer = new Producer({ ...connection, deliveryTimeoutMs: global.timeoutMs });
  const results: SendResult[] = [];
  let failed: Error | undefined;
  try {
    const sends = texts.map((body) => {
      const m: OutgoingMessage = {
        body,
        tags: c.tags,
        properties: c.properties,
        priority: c.priority,
        ...(c.key !== undefined ? { key: c.key } : {}),
        ...(c.partition !== undefined ? { partition: c.partition } : {}),
        ...(c.refKey !== undefined ? { refKey: c.refKey } : {}),
        ...(c.delayMs !== undefined ? { delayMs: c.delayMs } : {}),
        ...(c.deliverAtMs !== undefined ? { deliverAt: c.deliverAtMs } : {}),
      };
      return producer.send(c.topic, m);
    });
    // Long runs report progress on stderr every 2 s.
    let settledCount = 0;
    for (const s of sends)
      void s.then(
        () => settledCount++,
        () => settledCount++,
      );
    const progress = setInterval(
      () => io.err(`published ${settledCount} of ${texts.length}...${throttled(producer)}\n`),
      2_000,
    );
    const outcomes = await Promise.allSettled(sends).finally(() => clearInterval(progress));
    for (const s of outcomes) {
      if (s.status === 'fulfilled') results.push(s.value);
      else failed ??= s.reason instanceof Error ? s.reason : new Error(String(s.reason));
    }
  } finally {
    await producer.close();
  }
  if (producer.throttledRequests > 0) io.err(`${c.topic} is over its rate limit:${throttled(producer)}\n`);
  if (results.length > 0) {
    io.out(global.output === 'json' ? jsonLines(results.map(sendRecord)) : table(results, SEND_COLUMNS));
  }
  if (texts.length > 1 || failed)
    io.err(`published ${results.length} of ${texts.length} messages to ${c.topic}\n`);
  if (failed) throw failed;
  return EXIT.OK;
}

async function consume(
  global: Global,
  c: Extract<Command, { name: 'consume' }>,
  connection: Input<ConnectionOptions>,
  io: Io,
): Promise<number> {
  const consumer = new Consumer({
    ...connection,
    group: c.group,
    concurrency: 1,
    autoAck: c.ack,
    // Short polls: close() waits for running ones, and their messages are given back.
    maxWaitMs: 1_000,
    closeTimeoutMs: 5_000,
    ...(global.meta ? {} : { topic: c.topic, partitions: c.partitions }),
  });
  let count = 0;
  let last = Date.now();
  let finished!: () => void;
  const done = new Promise<void>((resolve) => (finished = resolve));
  try {
    await consumer.run({
      eachMessage: (m) => {
        io.out(global.output === 'json' ? jsonLines([deliveryRecord(m)]) : deliveryLine(m));
        count++;
        last = Date.now();
        if (c.max !== undefined && count >= c.max) {
          // Stops fetching at once, so no further message is taken and left unacked.
          void consumer.close();
          finished();
        }
      },
    });
  } catch (err) {
    await consumer.close();
    throw err;
  }
  if (global.meta && c.topic !== undefined && consumer.subscribedTopic !== c.topic) {
    await consumer.close();
    throw new HeraldError(
      'INVALID_REQUEST',
      `group ${c.group} reads topic ${consumer.subscribedTopic}, not ${c.topic}`,
      { field: 'topic' },
    );
  }
  io.err(
    `consuming ${consumer.subscribedTopic} as group ${c.group}` +
      (c.follow
        ? ' (Ctrl-C to stop)'
        : c.max === undefined
          ? ` until ${c.idleMs} ms pass without a message`
          : ` until ${c.max} message${c.max === 1 ? '' : 's'} or ${c.idleMs} ms without one`) +
      '\n',
  );
  // Idle time counts from when the group first gives this consumer a partition.
  const idle = setInterval(() => {
    if (consumer.assignment().length === 0 && count === 0) last = Date.now();
    else if (!c.follow && Date.now() - last >= c.idleMs) finished();
  }, 50);
  // A consumer refused while it runs (its rule removed) ends with that refusal, not in silence.
  const refused = await Promise.race([done, io.interrupted, consumer.ended]);
  clearInterval(idle);
  await consumer.close();
  if (refused) throw refused;
  io.err(`consumed ${count} message${count === 1 ? '' : 's'}${c.ack ? '' : ' (not acknowledged)'}\n`);
  return EXIT.OK;
}

/** The CLI's note on publishes slowed by the topic's rate limit (RATE_LIMITED); empty when none. */
function throttled(producer: Producer): string {
  const n = producer.throttledRequests;
  return n === 0
    ? ''
    : ` ${n} publish call(s) refused with RATE_LIMITED, sent again after the wait the broker asked for`;
}
