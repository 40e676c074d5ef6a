// The broker's Prometheus metrics, in a registry of its own (several brokers can share a
// process in tests). Served on /metrics by common/metrics-http.ts.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Metric, MetricValueWithName } from 'prom-client';

export interface LagSample {
  group: string;
  /** A broadcast group's consumer ('' in a clustering group, whose consumers share offsets). */
  consumer: string;
  topic: string;
  partition: number;
  lag: number;
  inFlight: number;
}

/**
 * Bounds, in seconds, of the histograms along a message's path (queue, commit, answer, wake-up,
 * the writes beside commits): fine up to 100 ms, where the latency targets are (a p99 of 5 ms
 * must be told from one of 7 or 10 ms), coarse above.
 */
const PATH_SECONDS = [
  0.0001, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1,
  2.5,
];

/** Bounds, in seconds, of herald_handling_seconds. */
export const HANDLING_SECONDS = [0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** One label set's counts of a FixedHistogram. */
export class HistogramChild {
  /** Per bucket, not cumulative; the last one is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    private readonly bounds: readonly number[],
    readonly labels: Record<string, string>,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }
}

/**
 * A histogram with fixed buckets whose observe is an increment: prom-client 15's Histogram checks
 * and hashes the labels at every observe (about 0.4 µs, ~5 % of the broker's CPU in a Kafka drain
 * at one observe per acked message). A collector in the registry: /metrics shows it exactly as
 * prom-client shows a Histogram of the same name, labels and buckets (unit-tested side by side).
 */
export class FixedHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly labelNames: readonly string[];
  private readonly bounds: readonly number[];
  private readonly children = new Map<string, HistogramChild>();

  constructor(options: {
    name: string;
    help: string;
    labelNames: readonly string[];
    buckets: readonly number[];
    registers: Registry[];
  }) {
    if (options.buckets.some((b, i) => i > 0 && b <= options.buckets[i - 1]))
      throw new Error(`${options.name}: buckets must increase`);
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames;
    this.bounds = options.buckets;
    for (const r of options.registers) r.registerMetric(this as unknown as Metric);
  }

  /** The child of these label values, in labelNames' order (keep it: the lookup joins them). */
  labels(...values: string[]): HistogramChild {
    if (values.length !== this.labelNames.length)
      throw new Error(`${this.name}: ${this.labelNames.length} label values expected, got ${values.length}`);
    const key = values.join('\u0000');
    let child = this.children.get(key);
    if (!child) {
      child = new HistogramChild(
        this.bounds,
        Object.fromEntries(this.labelNames.map((n, i) => [n, values[i]])),
      );
      this.children.set(key, child);
    }
    return child;
  }

  reset(): void {
    this.children.clear();
  }

  /** What the registry formats for /metrics (prom-client's shape: `le` apart from the shared labels). */
  getForPromString(): Promise<{
    name: string;
    help: string;
    type: 'histogram';
    aggregator: 'sum';
    values: (MetricValueWithName<string> & { sharedLabels: Record<string, string> })[];
  }> {
    const values: (MetricValueWithName<string> & { sharedLabels: Record<string, string> })[] = [];
    for (const c of this.children.values()) {
      // A label set appears once observed, as in prom-client.
      if (c.count === 0) continue;
      let acc = 0;
      this.bounds.forEach((le, i) => {
        acc += c.counts[i];
        values.push({
          labels: { le },
          sharedLabels: c.labels,
          value: acc,
          metricName: `${this.name}_bucket`,
        });
      });
      values.push(
        { labels: { le: '+Inf' }, sharedLabels: c.labels, value: c.count, metricName: `${this.name}_bucket` },
        { labels: {}, sharedLabels: c.labels, value: c.sum, metricName: `${this.name}_sum` },
        { labels: {}, sharedLabels: c.labels, value: c.count, metricName: `${this.name}_count` },
      );
    }
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: 'histogram',
      aggregator: 'sum',
      values,
    });
  }

  /** The registry's JSON form: every label in `labels`. */
  async get(): Promise<{
    name: string;
    help: string;
    type: 'histogram';
    aggregator: 'sum';
    values: MetricValueWithName<string>[];
  }> {
    const data = await this.getForPromString();
    return {
      ...data,
      values: data.values.map(({ sharedLabels, labels, ...v }) => ({
        ...v,
        labels: { ...labels, ...sharedLabels },
      })),
    };
  }
}

export class BrokerMetrics {
  readonly registry = new Registry();

  readonly publishedMessages = new Counter({
    name: 'herald_published_messages_total',
    help: 'Messages stored by Publish',
    labelNames: ['topic'] as const,
    registers: [this.registry],
  });
  readonly publishRequests = new Counter({
    name: 'herald_publish_requests_total',
    help: 'Publish calls by outcome (ok or an error reason)',
    labelNames: ['topic', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly rateLimitShare = new Gauge({
    name: 'herald_rate_limit_share_messages_per_second',
    help: 'This broker\'s share of a topic\'s rate limit (limit x partitions held / partitions); refusals count in herald_publish_requests_total{outcome="RATE_LIMITED"}',
    labelNames: ['topic'] as const,
    registers: [this.registry],
  });
  /** The HTTP gateway's counterpart of herald_grpc_server_handled_total (common/grpc/rpc-metrics.ts). */
  readonly httpHandled = new Counter({
    name: 'herald_http_server_handled_total',
    help: 'HTTP gateway requests completed, by operation (the gRPC method it ran, or "none" when no route matched) and HTTP status',
    labelNames: ['operation', 'status'] as const,
    registers: [this.registry],
  });
  readonly httpHandling = new Histogram({
    name: 'herald_http_server_handling_seconds',
    help: 'From an HTTP gateway request arriving to its response being sent',
    labelNames: ['operation'] as const,
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60],
    registers: [this.registry],
  });
  readonly publishLatency = new Histogram({
    name: 'herald_publish_latency_seconds',
    help: 'From a Publish call entering the writer queue to its commit',
    labelNames: ['topic'] as const,
    buckets: PATH_SECONDS,
    registers: [this.registry],
  });
  readonly publishServer = new Histogram({
    name: 'herald_publish_server_seconds',
    help: 'From a Publish call (or one PublishStream request) reaching its handler to its answer handed to gRPC',
    labelNames: ['method'] as const,
    buckets: PATH_SECONDS,
    registers: [this.registry],
  });
  readonly publishQueued = new Histogram({
    name: 'herald_publish_queue_seconds',
    help: 'From a Publish call entering the writer queue to the start of the commit that stores it',
    buckets: PATH_SECONDS,
    registers: [this.registry],
  });
  readonly deliveryWake = new Histogram({
    name: 'herald_delivery_wake_seconds',
    help: 'From the commit that stored a message to its first hand-over to a waiting Subscribe stream or Pull',
    buckets: PATH_SECONDS,
    registers: [this.registry],
  });
  readonly backgroundWrite = new Histogram({
    name: 'herald_background_write_seconds',
    help: 'Writes that share the store with group commits: trace flushes and offset stores',
    labelNames: ['kind'] as const,
    buckets: PATH_SECONDS,
    registers: [this.registry],
  });
  readonly traceWrite = this.backgroundWrite.labels('trace');
  readonly offsetWrite = this.backgroundWrite.labels('offsets');
  readonly insertRows = new Histogram({
    name: 'herald_insert_batch_rows',
    help: 'Rows per multi-row INSERT (group commit batch size)',
    labelNames: ['topic'] as const,
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
    registers: [this.registry],
  });
  readonly commitLatency = new Histogram({
    name: 'herald_commit_latency_seconds',
    help: 'Duration of one group commit (its INSERTs and the COMMIT)',
    buckets: PATH_SECONDS,
    registers: [this.registry],
  });
  readonly commitPartitions = new Histogram({
    name: 'herald_commit_partitions',
    help: 'Partitions written by one group commit',
    buckets: [1, 2, 4, 8, 16, 32, 64],
    registers: [this.registry],
  });
  readonly deliveredMessages = new Counter({
    name: 'herald_delivered_messages_total',
    help: 'Messages handed to consumers (first deliveries and redeliveries)',
    labelNames: ['topic', 'group', 'redelivery'] as const,
    registers: [this.registry],
  });
  readonly ackedMessages = new Counter({
    name: 'herald_acked_messages_total',
    help: 'Messages acknowledged',
    labelNames: ['topic', 'group'] as const,
    registers: [this.registry],
  });
  /** Observed once per acked message: a FixedHistogram, not prom-client's. */
  readonly handlingTime = new FixedHistogram({
    name: 'herald_handling_seconds',
    help: 'From a delivery to its ack, per group (first deliveries and in-place redeliveries; retries from the resend table are not timed)',
    labelNames: ['topic', 'group'],
    buckets: HANDLING_SECONDS,
    registers: [this.registry],
  });
  readonly pushRequests = new Counter({
    name: 'herald_push_requests_total',
    help: "Requests to push groups' endpoints, by HTTP status ('timeout', 'error': no answer)",
    labelNames: ['topic', 'group', 'code'] as const,
    registers: [this.registry],
  });
  readonly pushDuration = new Histogram({
    name: 'herald_push_request_duration_seconds',
    help: "From a push request's start to its answer (or timeout)",
    labelNames: ['topic', 'group'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly pushRate = new Gauge({
    name: 'herald_push_rate',
    help: "A push partition's adaptive sending rate, messages per second",
    labelNames: ['topic', 'group', 'partition'] as const,
    registers: [this.registry],
  });
  readonly retriesScheduled = new Counter({
    name: 'herald_retries_scheduled_total',
    help: 'Failed deliveries (Nack or ack timeout) scheduled for a retry',
    labelNames: ['topic', 'group'] as const,
    registers: [this.registry],
  });
  readonly deadLettered = new Counter({
    name: 'herald_dead_lettered_total',
    help: 'Messages moved to the dead-letter table after their last retry',
    labelNames: ['topic', 'group'] as const,
    registers: [this.registry],
  });
  readonly droppedMessages = new Counter({
    name: 'herald_dropped_messages_total',
    help: 'Messages given up after their last retry by groups without dead letters',
    labelNames: ['topic', 'group'] as const,
    registers: [this.registry],
  });
  readonly filteredMessages = new Counter({
    name: 'herald_filtered_messages_total',
    help: "Messages skipped by a group's tag filter (counted as acknowledged)",
    labelNames: ['topic', 'group'] as const,
    registers: [this.registry],
  });
  readonly pendingPublishes = new Gauge({
    name: 'herald_publish_pending_requests',
    help: 'Publish calls queued or being written, not yet answered',
    registers: [this.registry],
  });
  readonly publishPendingBytes = new Gauge({
    name: 'herald_publish_pending_bytes',
    help: 'Bytes of publishes accepted and not yet answered (queued, committing or scheduling), bounded by publish.maxPendingBytes',
    registers: [this.registry],
  });
  readonly publishBudgetStops = new Counter({
    name: 'herald_publish_budget_stops_total',
    help: 'publish.maxPendingBytes was full: a Publish refused with RATE_LIMITED (method Publish), or a PublishStream that stopped reading until there was room (method PublishStream)',
    labelNames: ['method'] as const,
    registers: [this.registry],
  });
  readonly deliveryUnsentBytes = new Gauge({
    name: 'herald_delivery_unsent_bytes',
    help: 'Bytes of message bodies written to Subscribe streams and not yet flushed by the transport, bounded by delivery.maxUnsentBytes',
    registers: [this.registry],
  });
  readonly waitingPulls = new Gauge({
    name: 'herald_waiting_pulls',
    help: 'Pull calls waiting for a message to arrive',
    registers: [this.registry],
  });
  readonly traceEventsWritten = new Counter({
    name: 'herald_trace_events_written_total',
    help: 'Trace events written to the trace store',
    registers: [this.registry],
  });
  readonly traceEventsDropped = new Counter({
    name: 'herald_trace_events_dropped_total',
    help: 'Trace events dropped because the trace store was slow or unavailable',
    registers: [this.registry],
  });
  readonly storageUp = new Gauge({
    name: 'herald_storage_up',
    help: '1 while the message store answers, 0 otherwise',
    registers: [this.registry],
  });

  readonly delayedScheduled = new Counter({
    name: 'herald_delayed_scheduled_messages_total',
    help: 'Delayed messages stored in the delay tables',
    labelNames: ['topic'] as const,
    registers: [this.registry],
  });
  readonly delayedDispatched = new Counter({
    name: 'herald_delayed_dispatched_messages_total',
    help: 'Delayed messages that fell due and were appended to their partition',
    labelNames: ['topic'] as const,
    registers: [this.registry],
  });
  readonly delayedLateness = new Histogram({
    name: 'herald_delayed_lateness_seconds',
    help: 'From a delayed message falling due to its commit in the partition',
    buckets: [0.05, 0.1, 0.2, 0.5, 1, 2, 5, 30],
    registers: [this.registry],
  });
  readonly retentionDroppedSegments = new Counter({
    name: 'herald_retention_dropped_segments_total',
    help: 'Table partitions (segments) dropped by retention',
    labelNames: ['topic'] as const,
    registers: [this.registry],
  });

  constructor(lag: () => LagSample[]) {
    // Event-loop delay sampled every 5 ms (reset at every scrape); GC pauses in buckets fine
    // enough to tell a 1 ms scavenge from a 10 ms one.
    collectDefaultMetrics({
      register: this.registry,
      eventLoopMonitoringPrecision: 5,
      gcDurationBuckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1],
    });
    new Gauge({
      name: 'herald_consumer_lag_messages',
      help: 'Stored messages not yet acknowledged by the group, or in a broadcast group by the consumer (end offset - committed offset)',
      labelNames: ['group', 'consumer', 'topic', 'partition'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const s of lag()) this.set(lagLabels(s), s.lag);
      },
    });
    new Gauge({
      name: 'herald_in_flight_messages',
      help: 'Messages delivered and not yet acknowledged',
      labelNames: ['group', 'consumer', 'topic', 'partition'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const s of lag()) this.set(lagLabels(s), s.inFlight);
      },
    });
  }
}

function lagLabels(s: LagSample): { group: string; consumer: string; topic: string; partition: string } {
  return { group: s.group, consumer: s.consumer, topic: s.topic, partition: String(s.partition) };
}
