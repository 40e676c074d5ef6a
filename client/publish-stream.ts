// The Producer's publishes on one PublishStream per broker: a request is one message on a
// long-lived stream, not a unary call of its own (a new HTTP/2 stream, headers, trailers and a
// deadline timer on both sides), which cost a single-message publish several times its time
// in the broker on a busy machine. A stream is ordered, and the broker queues a stream's
// requests for their partitions in arrival order, so requests sent together are stored in the
// order they were sent. Each request's result comes back with its id; a request unanswered
// after its timeout, or on a stream that broke, fails with an UnavailableError (retriable, its
// outcome unknown), as a unary call would. A request for a topic the caller may not publish to
// is answered with PERMISSION_DENIED like any failed request. When the stream fails as a whole
// (an unreachable broker, or a credential refused mid-stream), its requests in flight fail with StreamBroken, which carries the stream's error but is no
// verdict on them; the Producer then asks for their own with a unary Publish. The stream is opened on first use and again after
// it ended. A stream carries the token it was opened with (the broker checks it again with
// each request): when the token (a rotated token file) changes, the next request goes on a new
// stream, which carries the new token, while the old one answers what it holds and ends.
import { status as GrpcCode } from '@grpc/grpc-js';
import type * as grpc from '@grpc/grpc-js';
import { UnavailableError, callError, fromRpcStatus } from '../common/errors';
import type { CallError } from '../common/errors';
import type { BrokerConnections } from './connections';
import type { PublishRequest__Input } from '../proto/gen/herald/v1/PublishRequest';
import type { PublishResponse } from '../proto/gen/herald/v1/PublishResponse';
import type { PublishStreamRequest__Input } from '../proto/gen/herald/v1/PublishStreamRequest';
import type { PublishStreamResponse } from '../proto/gen/herald/v1/PublishStreamResponse';

/** The stream a request was on failed as a whole: the request's outcome is unknown. */
export class StreamBroken extends Error {
  override readonly name = 'StreamBroken';
  constructor(readonly error: CallError) {
    super(error.message, { cause: error });
  }
}

interface Waiting {
  resolve(res: PublishResponse): void;
  reject(err: unknown): void;
  timer: NodeJS.Timeout;
}

interface Stream {
  call: grpc.ClientDuplexStream<PublishStreamRequest__Input, PublishStreamResponse>;
  waiting: Map<number, Waiting>;
  /** The token the stream was opened with ('' without one). */
  token: string;
}

export class PublishStreams {
  private readonly streams = new Map<string, Stream>();
  private nextId = 1;

  constructor(
    private readonly conns: BrokerConnections,
    /** The caller's current token, when it sends one. */
    private readonly token?: () => string,
  ) {}

  /** Publishes on `address`'s stream; rejects with a HeraldError or an UnavailableError. */
  publish(address: string, request: PublishRequest__Input, timeoutMs: number): Promise<PublishResponse> {
    const s = this.stream(address);
    const requestId = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        s.waiting.delete(requestId);
        reject(
          new UnavailableError(
            `${address}: no answer to a PublishStream request within ${timeoutMs} ms`,
            GrpcCode.DEADLINE_EXCEEDED,
            address,
          ),
        );
      }, timeoutMs);
      s.waiting.set(requestId, { resolve, reject, timer });
      s.call.write({ requestId, publish: request });
    });
  }

  /** Ends every stream once its requests are answered (the broker then ends its side). */
  end(): void {
    for (const s of this.streams.values()) s.call.end();
    this.streams.clear();
  }

  private stream(address: string): Stream {
    const token = this.currentToken();
    const open = this.streams.get(address);
    if (open && open.token === token) return open;
    if (open) {
      this.streams.delete(address);
      open.call.end();
    }
    const call = this.conns.get(address).broker.PublishStream();
    const s: Stream = { call, waiting: new Map(), token };
    this.streams.set(address, s);
    const broken = (err: CallError) => {
      if (this.streams.get(address) === s) this.streams.delete(address);
      for (const w of s.waiting.values()) {
        clearTimeout(w.timer);
        w.reject(new StreamBroken(err));
      }
      s.waiting.clear();
    };
    call.on('data', (res: PublishStreamResponse) => {
      const id = Number(res.requestId);
      const w = s.waiting.get(id);
      if (!w) return; // timed out already
      s.waiting.delete(id);
      clearTimeout(w.timer);
      if (res.ok) w.resolve(res.ok);
      else w.reject(fromRpcStatus(res.error, address));
    });
    call.on('error', (err: grpc.ServiceError) => broken(callError(err, address)));
    call.on('end', () =>
      broken(new UnavailableError(`${address}: the PublishStream ended`, GrpcCode.UNAVAILABLE, address)),
    );
    return s;
  }

  /** A token that cannot be read counts as changed: the new stream then fails as a unary call would. */
  private currentToken(): string {
    try {
      return this.token?.() ?? '';
    } catch {
      return `unreadable ${this.nextId}`;
    }
  }
}
