// The broker process: node dist/broker/main.js --config <file.json>
// The config file holds BrokerOptions (see broker/options.ts); HERALD_MYSQL_URL, when set,
// replaces mysql.url so the password can come from a Secret. SIGTERM / SIGINT shut down
// gracefully: every pending publish is answered and offsets are stored.
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
  if (process.env.HERALD_MYSQL_URL) config.mysql = { ...config.mysql, url: process.env.HERALD_MYSQL_URL };
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
