// The broker process: node dist/broker/main.js --config <file.json>
// The config file holds BrokerOptions (see broker/options.ts); the environment overrides it the
// way the operator's StatefulSet sets it (operator/controllers/broker-pool-objects.ts):
// HERALD_MYSQL_URL replaces mysql.url (the password comes from a Secret);
// HERALD_ADVERTISED_ADDRESS replaces advertisedAddress; with a `meta` section (lease mode)
// HERALD_POD_NAME is the broker id, HERALD_ZONE its zone and HERALD_META_ADDRESS the
// meta-server address(es). SIGTERM / SIGINT shut down gracefully: every pending publish is
// answered, offsets are stored, and leases are released.
import { readFileSync } from 'node:fs';
import { startBroker } from './broker';
import { createLogger } from './logger';
import type { BrokerOptionsInput } from './options';

async function main(argv: string[]): Promise<void> {
  const logger = createLogger({ base: { pid: process.pid } });
  const at = argv.indexOf('--config');
  const file = at >= 0 ? argv[at + 1] : undefined;
  if (!file) {
    process.stderr.write('usage: main.js --config <broker.json>\n');
    process.exit(2);
  }
  const config = JSON.parse(readFileSync(file, 'utf8')) as BrokerOptionsInput;
  const env = process.env;
  if (env.HERALD_MYSQL_URL) config.mysql = { ...config.mysql, url: env.HERALD_MYSQL_URL };
  if (env.HERALD_ADVERTISED_ADDRESS) config.advertisedAddress = env.HERALD_ADVERTISED_ADDRESS;
  if (config.meta) {
    if (env.HERALD_POD_NAME) config.meta.brokerId = env.HERALD_POD_NAME;
    if (env.HERALD_ZONE) config.meta.zone = env.HERALD_ZONE;
    if (env.HERALD_META_ADDRESS) config.meta.address = env.HERALD_META_ADDRESS;
  }
  const broker = await startBroker(config, logger.namespace('broker'));
  let signals = 0;
  const onSignal = (signal: string) => {
    if (++signals > 1) process.exit(1);
    logger.info('shutting down', { signal });
    broker.shutdown().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error('shutdown failed', { err });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(
    `${JSON.stringify({ level: 'error', msg: 'broker failed to start', err: String(err) })}\n`,
  );
  process.exit(1);
});
