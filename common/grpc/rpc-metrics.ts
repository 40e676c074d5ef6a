// The first interceptor on every Herald server: calls by service, method and status code, and
// their duration, on the process's prom-client registry (the broker's, or the operator's).
import { status as GrpcCode } from '@grpc/grpc-js';
import { Counter, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import { metricOf } from '../metric-of';
import type { CallContext, Interceptor } from './interceptors';

const HANDLED = 'herald_grpc_server_handled_total';
const HANDLING = 'herald_grpc_server_handling_seconds';

/**
 * Counts every call as it ends (refused and cancelled ones too). Two servers on one registry
 * (tests run several in a process) share the metrics.
 */
export function rpcMetrics(registry: Registry): Interceptor {
  const handled = metricOf(
    registry,
    HANDLED,
    () =>
      new Counter({
        name: HANDLED,
        help: 'gRPC calls completed on this server, by service, method and status code',
        labelNames: ['service', 'method', 'code'] as const,
        registers: [registry],
      }),
  );
  const handling = metricOf(
    registry,
    HANDLING,
    () =>
      new Histogram({
        name: HANDLING,
        help: 'From a gRPC call arriving to its status (streams: their whole life)',
        labelNames: ['service', 'method'] as const,
        buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60],
        registers: [registry],
      }),
  );
  // Label lookups hash strings on every call: keep the children per method and code.
  const counters = new Map<string, Counter.Internal>();
  const timers = new Map<string, Histogram.Internal<'service' | 'method'>>();
  return {
    name: 'rpc-metrics',
    ended(ctx: CallContext, code: GrpcCode) {
      const method = `${ctx.service}/${ctx.method}`;
      const key = `${method}#${code}`;
      let counter = counters.get(key);
      if (!counter) {
        counter = handled.labels(ctx.service, ctx.method, GrpcCode[code] ?? String(code));
        counters.set(key, counter);
      }
      counter.inc();
      let timer = timers.get(method);
      if (!timer) {
        timer = handling.labels(ctx.service, ctx.method);
        timers.set(method, timer);
      }
      timer.observe((performance.now() - ctx.startedAt) / 1000);
    },
  };
}
