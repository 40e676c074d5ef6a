// The operator's /metrics endpoint, scraped over HTTP from a real operator process: the
// meta-server's per-RPC metrics (common/grpc/rpc-metrics.ts) by method and status code.
import { MetaConnection } from '../../../common/meta-client';
import type { GetConsumerLeasesResponse } from '../../../proto/gen/herald/v1/GetConsumerLeasesResponse';
import { leaderOf } from './fixture';
import { installCrds, spawnOperator, testNamespace } from './helpers';
import type { OperatorProcess, TestNamespace } from './helpers';
import { waitFor } from '../wait';

jest.setTimeout(120_000);

let ns: TestNamespace;
let operator: OperatorProcess;

beforeAll(async () => {
  await installCrds();
  ns = await testNamespace('opmetrics');
  operator = await spawnOperator(ns.name);
});

afterAll(async () => {
  await operator?.stop();
  await ns?.delete();
});

/** The value of one sample line of the scrape (0 when absent). */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

test('GET /metrics serves the meta-server calls by method and code; other paths are 404', async () => {
  await waitFor(
    'the operator leads',
    async () => ((await leaderOf(operator.metaAddress)).isLeader ? true : undefined),
    {
      timeoutMs: 60_000,
      intervalMs: 250,
    },
  );
  const meta = new MetaConnection([operator.metaAddress]);
  try {
    const missing = meta.call<GetConsumerLeasesResponse>((c, cb) =>
      c.getConsumerLeases({ namespace: ns.name, group: 'no-such-group' }, cb),
    );
    await expect(missing).rejects.toMatchObject({ code: 5 }); // NOT_FOUND: GROUP_NOT_FOUND
  } finally {
    meta.close();
  }

  const res = await fetch(`http://${operator.metricsAddress}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  const text = await res.text();
  const leader = 'herald_grpc_server_handled_total{service="herald.v1.Meta",method="GetLeader",code="OK"}';
  const notFound =
    'herald_grpc_server_handled_total{service="herald.v1.Meta",method="GetConsumerLeases",code="NOT_FOUND"}';
  expect(sample(text, leader)).toBeGreaterThanOrEqual(1);
  expect(sample(text, notFound)).toBe(1);
  // Every completed call is timed too (one the connection retried counts under each code).
  const handled = text
    .split('\n')
    .filter((l) =>
      l.startsWith('herald_grpc_server_handled_total{service="herald.v1.Meta",method="GetConsumerLeases"'),
    )
    .reduce((n, l) => n + Number(l.split(' ')[1]), 0);
  expect(
    sample(
      text,
      'herald_grpc_server_handling_seconds_count{service="herald.v1.Meta",method="GetConsumerLeases"}',
    ),
  ).toBe(handled);
  // The process's own metrics are there too.
  expect(text).toContain('process_cpu_seconds_total');

  expect((await fetch(`http://${operator.metricsAddress}/`)).status).toBe(404);
  expect((await fetch(`http://${operator.metricsAddress}/metrics`, { method: 'POST' })).status).toBe(404);
});
