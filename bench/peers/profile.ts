// Where a Herald broker spends a run, from its own /metrics read before and after it: the
// event loop's delay (perf_hooks.monitorEventLoopDelay, reset at every scrape, so the second
// read covers exactly the run), GC pauses by kind, and the time of each step of a message,
// handler -> queued for the group commit -> commit -> answer handed to gRPC, and commit ->
// delivery wake-up, plus the writes that compete with commits (trace flushes, offset stores).

/** Every series of a /metrics page: `name{labels}` -> value. */
export type MetricsSnapshot = Map<string, number>;

export async function brokerProfile(metricsAddress: string): Promise<MetricsSnapshot> {
  const text = await (await fetch(`http://${metricsAddress}/metrics`)).text();
  const out: MetricsSnapshot = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

interface HistogramDelta {
  count: number;
  sum: number;
  /** Cumulative counts per upper bound. */
  buckets: Map<number, number>;
}

/** A histogram's observations between two snapshots, summed over the label sets that match. */
function histogram(
  before: MetricsSnapshot,
  after: MetricsSnapshot,
  name: string,
  labels: (series: string) => boolean = () => true,
): HistogramDelta {
  const d: HistogramDelta = { count: 0, sum: 0, buckets: new Map() };
  for (const [series, value] of after) {
    if (!series.startsWith(name) || !labels(series)) continue;
    const delta = value - (before.get(series) ?? 0);
    const rest = series.slice(name.length);
    if (rest.startsWith('_count')) d.count += delta;
    else if (rest.startsWith('_sum')) d.sum += delta;
    else if (rest.startsWith('_bucket')) {
      const le = /le="([^"]+)"/.exec(rest)?.[1];
      if (le === undefined) continue;
      const bound = le === '+Inf' ? Infinity : Number(le);
      d.buckets.set(bound, (d.buckets.get(bound) ?? 0) + delta);
    }
  }
  return d;
}

/** The bucket bound under which fraction q of the observations fell, in ms (Infinity: above every bound). */
function quantileMs(h: HistogramDelta, q: number): number {
  if (h.count === 0) return NaN;
  const bounds = [...h.buckets.keys()].sort((a, b) => a - b);
  for (const b of bounds) if ((h.buckets.get(b) ?? 0) >= q * h.count) return b * 1000;
  return Infinity;
}

function gauge(s: MetricsSnapshot, name: string): number {
  return s.get(name) ?? NaN;
}

/** The run's figures, in ms unless named otherwise (bucket bounds for percentiles). */
export type BrokerProfile = Record<string, number>;

export function profileDelta(before: MetricsSnapshot, after: MetricsSnapshot): BrokerProfile {
  const gc = histogram(before, after, 'nodejs_gc_duration_seconds');
  const major = histogram(before, after, 'nodejs_gc_duration_seconds', (s) => s.includes('kind="major"'));
  const queued = histogram(before, after, 'herald_publish_queue_seconds');
  const commit = histogram(before, after, 'herald_commit_latency_seconds');
  const publish = histogram(before, after, 'herald_publish_latency_seconds');
  const wake = histogram(before, after, 'herald_delivery_wake_seconds');
  const trace = histogram(before, after, 'herald_background_write_seconds', (s) =>
    s.includes('kind="trace"'),
  );
  const offsets = histogram(before, after, 'herald_background_write_seconds', (s) =>
    s.includes('kind="offsets"'),
  );
  const rows = histogram(before, after, 'herald_insert_batch_rows');
  const server = histogram(before, after, 'herald_publish_server_seconds');
  // Per message stored in the run: CPU time of the broker (prom-client's process counters) and
  // its system calls (read from /proc by the driver), counts that the machine's load moves less
  // than it moves latencies.
  const perMessage = (name: string, scale: number) =>
    rows.sum === 0 ? NaN : (scale * (gauge(after, name) - gauge(before, name))) / rows.sum;
  return {
    'loop delay p99': 1000 * gauge(after, 'nodejs_eventloop_lag_p99_seconds'),
    'loop delay max': 1000 * gauge(after, 'nodejs_eventloop_lag_max_seconds'),
    'gc pauses': gc.count,
    'gc ms total': 1000 * gc.sum,
    'gc p99': quantileMs(gc, 0.99),
    'major gc pauses': major.count,
    'queued p50': quantileMs(queued, 0.5),
    'queued p99': quantileMs(queued, 0.99),
    'commit p50': quantileMs(commit, 0.5),
    'commit p99': quantileMs(commit, 0.99),
    commits: commit.count,
    'rows per commit': rows.count === 0 ? NaN : rows.sum / commit.count,
    'publish in broker p99': quantileMs(publish, 0.99),
    // Handler to answer (what the broker adds to a publish); its mean minus that of queue +
    // commit is the time outside the group commit: validation, routing, the reply.
    'handler p50': quantileMs(server, 0.5),
    'handler p99': quantileMs(server, 0.99),
    'handler mean': server.count === 0 ? NaN : (1000 * server.sum) / server.count,
    'outside commit mean':
      server.count === 0 || publish.count === 0
        ? NaN
        : (1000 * server.sum) / server.count - (1000 * publish.sum) / publish.count,
    'wake p50': quantileMs(wake, 0.5),
    'wake p99': quantileMs(wake, 0.99),
    'user CPU µs per message': perMessage('process_cpu_user_seconds_total', 1e6),
    'system CPU µs per message': perMessage('process_cpu_system_seconds_total', 1e6),
    'write syscalls per message': perMessage('proc_syscw', 1),
    'read syscalls per message': perMessage('proc_syscr', 1),
    'trace writes': trace.count,
    'trace write p99': quantileMs(trace, 0.99),
    'offset writes': offsets.count,
    'offset write p99': quantileMs(offsets, 0.99),
  };
}
