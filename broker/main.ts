// The broker process: node dist/broker/main.js --config <file.json>
// The config file holds BrokerOptions (see broker/options.ts); the environment overrides it the
// way the operator's StatefulSet sets it (withEnvironment: HERALD_MYSQL_URL, HERALD_ADVERTISED_
// ADDRESS, and in lease mode HERALD_POD_NAME, HERALD_ZONE, HERALD_META_ADDRESS). SIGTERM /
// SIGINT shut down gracefully: every pending publish is answered, offsets are stored, and
// leases are released.
import { readFileSync } from 'node:fs';
import { startBroker } from './broker';
import type { Broker } from './broker';
import { createLogger } from '../common/logger';
import { withEnvironment } from '../common/broker-options';
import type { BrokerOptionsInput } from '../common/broker-options';

async function main(argv: string[]): Promise<void> {
  const logger = createLogger({ base: { pid: process.pid } });
  const at = argv.indexOf('--config');
  const file = at >= 0 ? argv[at + 1] : undefined;
  if (!file) {
    process.stderr.write('usage: main.js --config <broker.json>\n');
    process.exit(2);
  }
  const config = withEnvironment(JSON.parse(readFileSync(file, 'utf8')) as BrokerOptionsInput, process.env);
  // Handlers before start-up: the "broker started" line may be answered by a signal at once.
  // A signal during start-up stops the broker as soon as it has started.
  const started: { broker?: Broker; pendingSignal?: string } = {};
  let signals = 0;
  const stop = (running: Broker, signal: string) => {
    logger.info('shutting down', { signal });
    running.shutdown().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error('shutdown failed', { err });
        process.exit(1);
      },
    );
  };
  const onSignal = (signal: string) => {
    if (++signals > 1) process.exit(1);
    if (started.broker) stop(started.broker, signal);
    else started.pendingSignal = signal;
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  started.broker = await startBroker(config, logger.namespace('broker'));
  if (started.pendingSignal) stop(started.broker, started.pendingSignal);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(
    `${JSON.stringify({ level: 'error', msg: 'broker failed to start', err: String(err) })}\n`,
  );
  process.exit(1);
});
