// Herald's server interceptors and their adapter onto grpc-js. An interceptor sees every call
// before its handler does (and each request message of a streaming call), may refuse it with a
// HeraldError (at once or after an await: a TokenReview is an HTTP call), may end a running
// call later through ctx.end(), and hears how every call ended. The whole chain runs inside
// one grpc-js ServerInterceptor (ServerOptions.interceptors), in the order given; errors become
// statuses only through status.ts. A unary call that arrives by another transport (the HTTP
// gateway) runs through the same chain with interceptUnary.
import * as grpc from '@grpc/grpc-js';
import { asHeraldError } from '../errors';
import type { HeraldError } from '../errors';
import { toServiceError } from './status';

export type CallKind = 'unary' | 'server-stream' | 'client-stream' | 'bidi';

/** Who is calling, as an authentication interceptor established it. */
export interface Identity {
  /** e.g. system:serviceaccount:<ns>:<name>, or a HeraldUser's name. */
  name: string;
  /** How it was established, e.g. 'serviceaccount-token', 'client-certificate'. */
  method: string;
  attributes?: Readonly<Record<string, string>>;
}

export interface CallContext {
  /** The full service name, e.g. 'herald.v1.Broker'. */
  readonly service: string;
  /** The method name as in the .proto file, e.g. 'Publish'. */
  readonly method: string;
  readonly kind: CallKind;
  /** The request metadata (headers). */
  readonly metadata: grpc.Metadata;
  /** The transport peer (ip:port). */
  readonly peer: string;
  /** The CN of the client certificate the TLS handshake verified, if the caller sent one. */
  readonly peerCertificateCn: string | undefined;
  /**
   * The request message of a unary or server-streaming call (what it touches: topic, group),
   * set before `admit` runs; undefined for client-streaming and bidi calls (see `message`).
   */
  readonly request: unknown;
  /** performance.now() when the call arrived. */
  readonly startedAt: number;
  /** The caller, set by an authentication interceptor and read by later ones. */
  identity: Identity | undefined;
  /**
   * Ends the call now with this error, also a stream that is running (its handler sees the
   * call cancelled). Does nothing once the call has ended.
   */
  end(err: HeraldError): void;
  /** Aborted when the call has ended, however it ended. */
  readonly ended: AbortSignal;
}

export interface Interceptor {
  /** For logs and tests. */
  readonly name: string;
  /**
   * Runs when a call arrives, before its handler: with the request for unary and
   * server-streaming calls, on the headers for streaming requests. Throw or reject (a
   * HeraldError) to refuse the call; the next interceptors do not run then.
   */
  admit?(ctx: CallContext): void | Promise<void>;
  /**
   * Runs on every request message of a client-streaming or bidi call, before the handler
   * sees it (Subscribe's start, each PublishStream request). Throw or reject to end the call,
   * or, for a method with an in-band answer (InBandRefusals), to refuse only that message.
   */
  message?(ctx: CallContext, message: unknown): void | Promise<void>;
  /** Once per call after its status went out, refused calls included. Must not throw. */
  ended?(ctx: CallContext, code: grpc.status): void;
}

const KINDS: Record<string, CallKind> = {
  'false,false': 'unary',
  'false,true': 'server-stream',
  'true,false': 'client-stream',
  'true,true': 'bidi',
};

/** Runs `step` for each interceptor in order; synchronous while every step is. */
function runChain(
  chain: readonly Interceptor[],
  step: (i: Interceptor) => void | Promise<void>,
  from = 0,
): void | Promise<void> {
  for (let i = from; i < chain.length; i++) {
    const r = step(chain[i]);
    if (r instanceof Promise) return r.then(() => runChain(chain, step, i + 1));
  }
}

/**
 * For streams whose messages are requests of their own (PublishStream): the response that
 * answers one refused message in place of ending the call, by full method path; undefined
 * (for that refusal) ends the call as usual.
 */
export type InBandRefusals = ReadonlyMap<string, (message: never, err: HeraldError) => unknown>;

/** The chain as one grpc-js server interceptor; with no interceptors, none at all. */
export function grpcInterceptors(
  chain: readonly Interceptor[],
  inBand: InBandRefusals = new Map(),
): grpc.ServerInterceptor[] {
  if (chain.length === 0) return [];
  const admitting = chain.filter((i) => i.admit !== undefined);
  const reading = chain.filter((i) => i.message !== undefined);
  const ending = chain.filter((i) => i.ended !== undefined);
  const names = new Map<string, CallName>();
  return [
    (definition, next) => {
      let name = names.get(definition.path);
      if (!name) {
        // '/herald.v1.Broker/Publish'
        const path = definition.path;
        const slash = path.lastIndexOf('/');
        name = {
          service: path.slice(1, slash),
          method: path.slice(slash + 1),
          kind: KINDS[`${definition.requestStream},${definition.responseStream}`],
        };
        names.set(path, name);
      }
      return intercept(next, name, admitting, reading, ending, inBand.get(definition.path));
    },
  ];
}

interface CallName {
  service: string;
  method: string;
  kind: CallKind;
}

function intercept(
  next: grpc.ServerInterceptingCallInterface,
  name: CallName,
  admitting: readonly Interceptor[],
  reading: readonly Interceptor[],
  ending: readonly Interceptor[],
  answerInBand: ((message: never, err: HeraldError) => unknown) | undefined,
): grpc.ServerInterceptingCall {
  let ctx: Context | undefined;
  let done = false;
  // Refusals and ctx.end() go out through this call, so that every layer sees the status.
  const refuse = (err: unknown) => {
    if (done) return;
    const status = toServiceError(asHeraldError(err));
    call.sendStatus({ code: status.code!, details: status.details ?? '', metadata: status.metadata });
  };
  const finish = (code: grpc.status) => {
    if (done) return;
    done = true;
    if (!ctx) return;
    ctx.finish();
    for (const i of ending) i.ended!(ctx, code);
  };
  /**
   * One stream message refused: answered in band when its method says how (the handler never
   * sees it, and the next message is read in its place), otherwise the call ends.
   */
  const refuseMessage = (message: unknown) => (err: unknown) => {
    if (done) return;
    const e = asHeraldError(err);
    const answer = answerInBand?.(message as never, e);
    if (answer === undefined) return refuse(e);
    call.sendMessage(answer, () => undefined);
    call.startRead();
  };
  /** Runs `step` over `chain`, then `pass`; a throw or rejection refuses (`refused`) instead. */
  const gate = (
    chain: readonly Interceptor[],
    step: (i: Interceptor) => void | Promise<void>,
    pass: () => void,
    refused: (err: unknown) => void = refuse,
  ) => {
    let r: void | Promise<void>;
    try {
      r = runChain(chain, step);
    } catch (err) {
      return refused(err);
    }
    if (r instanceof Promise) r.then(() => (done ? undefined : pass()), refused);
    else pass();
  };
  const withRequest = name.kind === 'unary' || name.kind === 'server-stream';
  const listener = new grpc.ServerListenerBuilder()
    .withOnReceiveMetadata((metadata, pass) => {
      const c = (ctx = new Context(name, metadata, next.getPeer(), () => peerCn(next), refuse));
      if (withRequest || admitting.length === 0) pass(metadata);
      else
        gate(
          admitting,
          (i) => i.admit!(c),
          () => pass(metadata),
        );
    })
    .withOnReceiveMessage((message, pass) => {
      const c = ctx!;
      if (withRequest) {
        c.request = message;
        gate(
          admitting,
          (i) => i.admit!(c),
          () => pass(message),
        );
      } else if (reading.length === 0) {
        pass(message);
      } else {
        gate(
          reading,
          (i) => i.message!(c, message),
          () => pass(message),
          refuseMessage(message),
        );
      }
    })
    .withOnCancel(() => finish(grpc.status.CANCELLED))
    .build();
  const responder = new grpc.ResponderBuilder()
    .withStart((start) => start(listener))
    .withSendStatus((status, send) => {
      // A handler may still answer after an interceptor ended its call: one status only.
      if (done) return;
      send(status);
      finish(status.code);
    })
    .build();
  const call = new grpc.ServerInterceptingCall(next, responder);
  return call;
}

/** A unary call that arrived by another transport than gRPC (the HTTP gateway). */
export interface ForeignUnaryCall {
  service: string;
  method: string;
  request: unknown;
  /** The caller's headers as gRPC metadata (its authorization header). */
  metadata: grpc.Metadata;
  peer: string;
  peerCertificateCn: string | undefined;
}

/**
 * Runs a foreign unary call through `chain` as grpc-js would run a gRPC one: every `admit` in
 * order (a refusal rejects, and `handle` never runs), then `handle`, then every `ended` with the
 * gRPC code the call ended with. Rejects with a HeraldError; `ctx.end()` rejects at once and
 * aborts the signal `handle` gets.
 */
export async function interceptUnary<Res>(
  chain: readonly Interceptor[],
  call: ForeignUnaryCall,
  handle: (stopped: AbortSignal) => Promise<Res>,
): Promise<Res> {
  const stopped = new AbortController();
  let stop: (err: HeraldError) => void = () => undefined;
  const ending = new Promise<never>((_resolve, reject) => {
    stop = (err) => {
      reject(err);
      stopped.abort();
    };
  });
  ending.catch(() => undefined);
  const ctx = new Context(
    { service: call.service, method: call.method, kind: 'unary' },
    call.metadata,
    call.peer,
    () => call.peerCertificateCn,
    (err) => stop(err),
  );
  ctx.request = call.request;
  let code = grpc.status.OK;
  try {
    const admitted = runChain(
      chain.filter((i) => i.admit !== undefined),
      (i) => i.admit!(ctx),
    );
    if (admitted instanceof Promise) await Promise.race([admitted, ending]);
    return await Promise.race([handle(stopped.signal), ending]);
  } catch (err) {
    const e = asHeraldError(err);
    code = e.code;
    throw e;
  } finally {
    ctx.finish();
    for (const i of chain) i.ended?.(ctx, code);
  }
}

function peerCn(call: grpc.ServerInterceptingCallInterface): string | undefined {
  const cn = call.getAuthContext().sslPeerCertificate?.subject?.CN;
  return typeof cn === 'string' ? cn : undefined;
}

class Context implements CallContext {
  readonly service: string;
  readonly method: string;
  readonly kind: CallKind;
  readonly startedAt = performance.now();
  request: unknown = undefined;
  identity: Identity | undefined = undefined;
  // Made on first use: most calls never ask.
  private abort: AbortController | undefined;
  private finished = false;

  constructor(
    name: CallName,
    readonly metadata: grpc.Metadata,
    readonly peer: string,
    private readonly readPeerCn: () => string | undefined,
    private readonly stop: (err: HeraldError) => void,
  ) {
    this.service = name.service;
    this.method = name.method;
    this.kind = name.kind;
  }

  // Read on first use: a TLS socket builds the certificate object on each ask.
  private cn: { value: string | undefined } | undefined;

  get peerCertificateCn(): string | undefined {
    this.cn ??= { value: this.readPeerCn() };
    return this.cn.value;
  }

  get ended(): AbortSignal {
    this.abort ??= new AbortController();
    if (this.finished) this.abort.abort();
    return this.abort.signal;
  }

  end(err: HeraldError): void {
    this.stop(err);
  }

  finish(): void {
    this.finished = true;
    this.abort?.abort();
  }
}
