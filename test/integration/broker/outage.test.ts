// MySQL going away under a running broker (a TCP proxy between them is cut): publishes fail
// fast with UNAVAILABLE and store nothing, readiness goes NOT_SERVING, and after the store
// comes back the broker reconnects, turns SERVING, and continues at the right offset.
import { status } from '@grpc/grpc-js';
import { waitFor } from '../wait';
import {
  api,
  body,
  dropTestDatabases,
  failure,
  healthStatus,
  proxiedBrokerOptions,
  runBroker,
  storedCount,
  testDatabase,
} from './helpers';

afterAll(dropTestDatabases);

test('MySQL down: fail fast, not ready, then reconnect', async () => {
  const database = testDatabase('outage');
  const { options, proxy } = await proxiedBrokerOptions(database, [{ name: 'events', partitions: 1 }]);
  const running = await runBroker(options);
  const call = api(running.clients);
  const publish = (text: string) => call.publish({ topic: 'events', partition: 0, messages: [body(text)] });

  expect((await publish('before')).results[0].offset).toBe(1);
  expect(await healthStatus(running.broker.address)).toBe('SERVING');

  await proxy.stop();
  const during = await failure(publish('during outage'));
  expect(during.code).toBe(status.UNAVAILABLE);
  expect(during.info?.reason).toBe('STORAGE_UNAVAILABLE');
  await waitFor('readiness to drop', async () =>
    (await healthStatus(running.broker.address)) === 'NOT_SERVING' ? true : undefined,
  );
  // While the store is known to be down, publishes are refused at once, before any I/O.
  const refused = await failure(publish('refused'));
  expect(refused.info?.reason).toBe('STORAGE_UNAVAILABLE');

  await proxy.start();
  await waitFor('readiness to return', async () =>
    (await healthStatus(running.broker.address)) === 'SERVING' ? true : undefined,
  );
  expect((await publish('after')).results[0].offset).toBe(2);
  const pulled = await call.pull({ group: 'g', topic: 'events', partition: 0, maxMessages: 10 });
  expect(pulled.messages.map((m) => m.body.toString())).toEqual(['before', 'after']);

  await running.stop();
  await proxy.stop();
  expect(await storedCount(database, 'events', 1)).toBe(2);
});
