// Delivers one push group's messages on one owned partition to its endpoint. It reads through
// the group's cursor like any consumer (Delivery.pull, ack, nack: offsets, retries, dead
// letters, ordering and failover are the cursor's), holding no consumer lease (a push group
// has no consumers). Each request waits for a free slot (maxInFlight; one when ordered or while
// the endpoint is down), for any Retry-After pause, and for the adaptive rate.
import * as http from 'node:http';
import * as https from 'node:https';
import { HeraldError } from '../../common/errors';
import type { Logger } from '../../common/logger';
import type { GroupPolicies, GroupPolicy, PushPolicy } from '../../common/group-policy';
import type { PartitionRef } from '../../storage/storage';
import type { Delivery } from '../delivery/delivery';
import type { Delivered } from '../delivery/group-cursor';
import { Signal } from '../delivery/signal';
import type { BrokerMetrics } from '../metrics';
import { recordDelivery } from '../trace/record';
import type { Tracer } from '../trace/tracer';
import { AdaptiveRate, ADAPTIVE_DEFAULTS } from './adaptive-rate';
import type { RateState } from './adaptive-rate';
import { outcomeOf } from './outcome';
import type { PushAnswer } from './outcome';
import { pushRequest } from './push-request';
import type { PushRequest } from './push-request';

/** What a pusher works with. */
export interface PushContext {
  delivery: Pick<Delivery, 'pull' | 'ack' | 'nack'>;
  policies: GroupPolicies;
  /** The topic's partition count (the group's rate is shared among them). */
  partitions: (topic: string) => number;
  tracer: Tracer;
  metrics: BrokerMetrics;
  logger: Logger;
  options: { ratePeriodMs: number; heartbeatIntervalMs: number };
}

export interface PushFailureRecord {
  at: number;
  offset: number;
  attempt: number;
  status: number;
  error: string;
}

/** Recent failures kept per partition (and reported). */
const RECENT_FAILURES = 10;
/** A long poll's wait before the pusher looks at its policy again. */
const PULL_WAIT_MS = 1000;
/** The ack timeout beyond the request timeout (a slow answer is still acked, not redelivered). */
const ACK_GRACE_MS = 5000;
/** Bytes of an error answer kept in the dead letter's error. */
const ERROR_BODY_BYTES = 200;
/** A pusher's call failed for a reason that ends it (the manager starts it again if due). */
const ENDING = new Set(['NOT_PARTITION_OWNER', 'SHUTTING_DOWN', 'TOPIC_NOT_FOUND', 'LEASE_EXPIRED']);
const NO_CLAIM = { id: '', epoch: 0 };

export class PartitionPusher {
  private readonly stopping = new AbortController();
  private readonly changed = new Signal();
  private readonly rate: AdaptiveRate;
  private readonly evaluator: NodeJS.Timeout;
  private inFlight = 0;
  private pausedUntil = 0;
  /** Cancels the long poll running now. */
  private pulling: AbortController | undefined;
  private agent: http.Agent;
  readonly failures: PushFailureRecord[] = [];
  /** Resolves when the pusher has stopped and its requests have ended. */
  readonly done: Promise<void>;

  constructor(
    readonly group: string,
    readonly ref: PartitionRef,
    private policy: GroupPolicy & { push: PushPolicy },
    private readonly ctx: PushContext,
  ) {
    this.rate = new AdaptiveRate(
      {
        ...ADAPTIVE_DEFAULTS,
        maxRate: this.share(),
        heartbeatIntervalMs: ctx.options.heartbeatIntervalMs,
      },
      Date.now(),
    );
    this.agent = agentFor(policy.push);
    this.evaluator = setInterval(() => {
      this.rate.evaluate();
      this.ctx.metrics.pushRate.set(this.labels(), this.rate.rate);
      this.changed.notify();
    }, ctx.options.ratePeriodMs);
    this.evaluator.unref();
    this.done = this.run();
  }

  get stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  /** What the owner reports to the meta-server. */
  report(): { rate: number; state: RateState; healthy: boolean; inFlight: number } {
    return {
      rate: this.rate.rate,
      state: this.rate.state,
      healthy: this.rate.healthy,
      inFlight: this.inFlight,
    };
  }

  /** Stops taking messages; requests in flight end on their own (answer or timeout). */
  stop(): Promise<void> {
    this.stopping.abort();
    clearInterval(this.evaluator);
    return this.done;
  }

  private share(): number {
    return this.policy.push.rate / Math.max(1, this.ctx.partitions(this.ref.topic));
  }

  private labels() {
    return { topic: this.ref.topic, group: this.group, partition: String(this.ref.partition) };
  }

  private async run(): Promise<void> {
    const abort = this.stopping.signal;
    while (!abort.aborted) {
      try {
        if (!(await this.refreshPolicy())) break;
        const slots = await this.ready();
        if (slots === 0) continue;
        const taken = await this.take(slots);
        if (taken.length === 0) continue;
        // A Retry-After that arrived while the pull ran holds these too.
        while (!abort.aborted && this.pausedUntil > Date.now())
          await new Promise((resolve) => setTimeout(resolve, Math.min(this.pausedUntil - Date.now(), 1000)));
        this.rate.sent(taken.length, Date.now());
        // One message per request: one pull serves up to `slots` requests.
        const requests = this.policy.push.batch.maxMessages === 1 ? taken.map((d) => [d]) : [taken];
        for (const r of requests) {
          this.inFlight++;
          void this.send(r).finally(() => {
            this.inFlight--;
            this.changed.notify();
          });
        }
      } catch (err) {
        if (err instanceof HeraldError && ENDING.has(err.reason)) break;
        this.ctx.logger.warn('push delivery failed; trying again', { ...this.ref, group: this.group, err });
        await this.changed.wait(1000, abort);
      }
    }
    this.stopping.abort();
    clearInterval(this.evaluator);
    while (this.inFlight > 0) await this.changed.wait(Infinity);
    this.agent.destroy();
    this.ctx.metrics.pushRate.remove(this.labels());
  }

  /** The group's current policy; false when it no longer pushes. */
  private async refreshPolicy(): Promise<boolean> {
    const policy = await this.ctx.policies.policy(this.group);
    if (!policy.push) return false;
    if (
      policy.push.url !== this.policy.push.url ||
      policy.push.maxInFlight !== this.policy.push.maxInFlight ||
      policy.push.ca !== this.policy.push.ca
    ) {
      this.agent.destroy();
      this.agent = agentFor(policy.push);
    }
    this.policy = policy as GroupPolicy & { push: PushPolicy };
    this.rate.setMaxRate(this.share());
    return true;
  }

  /**
   * Waits for a free slot, the end of a Retry-After pause and the rate; returns how many
   * requests may start now (0: look again).
   */
  private async ready(): Promise<number> {
    const abort = this.stopping.signal;
    const limit = this.policy.ordered || this.rate.state === 'down' ? 1 : this.policy.push.maxInFlight;
    if (this.inFlight >= limit) {
      await this.changed.wait(Infinity, abort);
      return 0;
    }
    const now = Date.now();
    const wait = Math.max(this.pausedUntil - now, this.rate.waitMs(now));
    if (wait > 0) {
      await this.changed.wait(wait, abort);
      return 0;
    }
    return Math.min(limit - this.inFlight, this.rate.available(now));
  }

  /**
   * Deliveries for up to `requests` requests of one message, or for one batch: one long poll,
   * then (batching with maxDelayMs) more until the batch is full.
   */
  private async take(requests: number): Promise<Delivered[]> {
    const { batch, timeoutMs } = this.policy.push;
    const abort = this.stopping.signal;
    // A Retry-After ends the long poll (pause() aborts it).
    this.pulling = new AbortController();
    const cancelled = AbortSignal.any([abort, this.pulling.signal]);
    const pull = (maxMessages: number, maxWaitMs: number) =>
      this.ctx.delivery.pull(
        {
          group: this.group,
          topic: this.ref.topic,
          partition: this.ref.partition,
          maxMessages,
          maxWaitMs,
          ackTimeoutMs: timeoutMs + ACK_GRACE_MS,
          consumer: NO_CLAIM,
        },
        cancelled,
      );
    const taken = await pull(batch.maxMessages === 1 ? requests : batch.maxMessages, PULL_WAIT_MS);
    if (taken.length === 0 || batch.maxDelayMs === 0) return taken;
    const deadline = Date.now() + batch.maxDelayMs;
    let bytes = taken.reduce((n, d) => n + d.message.body.length, 0);
    while (taken.length < batch.maxMessages && bytes < batch.maxBytes && !cancelled.aborted) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      const more = await pull(batch.maxMessages - taken.length, remaining);
      taken.push(...more);
      bytes += more.reduce((n, d) => n + d.message.body.length, 0);
    }
    return taken;
  }

  private async send(taken: Delivered[]): Promise<void> {
    const push = this.policy.push;
    const labels = { topic: this.ref.topic, group: this.group };
    const started = performance.now();
    const answer = await post(push, this.agent, pushRequest(this.group, this.ref, taken, push, Date.now()));
    const seconds = (performance.now() - started) / 1000;
    this.ctx.metrics.pushDuration.observe(labels, seconds);
    const code =
      answer.status > 0 ? String(answer.status) : (NO_ANSWER_CODES[answer.error.split(' ', 1)[0]] ?? 'error');
    this.ctx.metrics.pushRequests.inc({ ...labels, code });
    const now = Date.now();
    const outcome = outcomeOf(answer, push.retryClientErrors, now);
    this.rate.record(outcome.kind === 'retry' && outcome.endpointFailed);
    for (const d of taken) {
      recordDelivery(this.ctx.tracer, 'push-attempt', this.ref, d.message.offset, this.group, {
        attempt: d.attempt,
        detail: {
          status: String(answer.status),
          durationMs: String(Math.round(seconds * 1000)),
          endpoint: endpointOf(push.url),
          ...(outcome.kind === 'ack' ? {} : { error: answer.error }),
        },
      });
    }
    const offsets = taken.map((d) => d.message.offset);
    const { topic, partition } = this.ref;
    try {
      if (outcome.kind === 'ack') {
        await this.ctx.delivery.ack(this.group, topic, partition, offsets, NO_CLAIM);
        return;
      }
      const first = taken[0];
      this.failures.unshift({
        at: now,
        offset: first.message.offset,
        attempt: first.attempt,
        status: answer.status,
        error: answer.error,
      });
      this.failures.length = Math.min(this.failures.length, RECENT_FAILURES);
      const delayMs = outcome.kind === 'retry' ? (outcome.retryAfterMs ?? 0) : 0;
      if (delayMs > 0) {
        this.pausedUntil = Math.max(this.pausedUntil, now + delayMs);
        this.pulling?.abort();
      }
      await this.ctx.delivery.nack(
        this.group,
        topic,
        partition,
        offsets,
        delayMs,
        outcome.error,
        NO_CLAIM,
        outcome.kind === 'final',
      );
    } catch (err) {
      // The ack timeout (or the next owner) delivers them again.
      this.ctx.logger.warn('could not settle pushed messages', {
        ...this.ref,
        group: this.group,
        offsets,
        err,
      });
    }
  }
}

/** The endpoint's host:port, for traces and logs (the URL may carry credentials). */
export function endpointOf(url: string): string {
  return new URL(url).host;
}

/**
 * Keep-alive connections to the endpoint. HTTPS verifies the certificate and host name, against
 * the group's CA bundle when it has one (then only that), else the system CAs; never without.
 */
function agentFor(push: PushPolicy): http.Agent {
  const options = { keepAlive: true, maxSockets: push.maxInFlight };
  if (!push.url.startsWith('https:')) return new http.Agent(options);
  return new https.Agent({ ...options, rejectUnauthorized: true, ...(push.ca ? { ca: push.ca } : {}) });
}

/** OpenSSL's and Node's codes for a certificate that did not verify. */
const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|UNABLE_TO_|CERT_|SELF_SIGNED_|DEPTH_ZERO_|HOSTNAME_)/;

/** herald_push_requests_total's `code` of a request with no answer, by noAnswer's first word. */
const NO_ANSWER_CODES: Record<string, string> = { timeout: 'timeout', TLS: 'tls' };

/**
 * A request that got no answer, in words: `timeout after <ms> ms`, `TLS error <code>: <why>`
 * (the certificate did not verify) or `connection error <code>`.
 */
function noAnswer(err: NodeJS.ErrnoException, timedOut: boolean, timeoutMs: number): string {
  if (timedOut) return `timeout after ${timeoutMs} ms`;
  const code = err.code ?? '';
  if (TLS_CODE.test(code)) return `TLS error ${code}: ${err.message}`;
  return `connection error ${code || err.message}`;
}

/** POSTs the request; resolves with the answer (status 0 for a timeout or a connection error). */
function post(push: PushPolicy, agent: http.Agent, req: PushRequest): Promise<PushAnswer> {
  const url = new URL(push.url);
  const signal = AbortSignal.timeout(push.timeoutMs);
  const send = url.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve) => {
    let answered = false;
    const answer = (a: PushAnswer) => {
      if (answered) return;
      answered = true;
      resolve(a);
    };
    const failed = (err: NodeJS.ErrnoException) =>
      answer({ status: 0, error: noAnswer(err, signal.aborted, push.timeoutMs) });
    const r = send(
      url,
      {
        method: 'POST',
        agent,
        signal,
        headers: { ...req.headers, 'Content-Length': String(req.body.length) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (size < ERROR_BODY_BYTES) chunks.push(c);
          size += c.length;
        });
        res.on('error', failed);
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const text = Buffer.concat(chunks)
            .subarray(0, ERROR_BODY_BYTES)
            .toString()
            .replace(/\s+/g, ' ')
            .trim();
          const retryAfter = res.headers['retry-after'];
          answer({
            status,
            error: `HTTP ${status}` + (text ? `: ${text}` : ''),
            ...(retryAfter !== undefined ? { retryAfter } : {}),
          });
        });
      },
    );
    r.on('error', failed);
    r.end(req.body);
  });
}
