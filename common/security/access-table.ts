// The type of a service's access table: for every RPC, what each request message asks for.
// Keyed by the generated handler interface, so a service whose .proto gains an RPC does not
// compile until its table says what the new RPC needs.
import type * as grpc from '@grpc/grpc-js';
import type { AccessRequest } from './access-rules';

// The request type of a generated handler (matched on the grpc-js alias it is declared with;
// the response type is irrelevant here).
/* eslint-disable @typescript-eslint/no-explicit-any */
type RequestOf<H> =
  H extends grpc.handleUnaryCall<infer Req, any>
    ? Req
    : H extends grpc.handleBidiStreamingCall<infer Req, any>
      ? Req
      : H extends grpc.handleServerStreamingCall<infer Req, any>
        ? Req
        : H extends grpc.handleClientStreamingCall<infer Req, any>
          ? Req
          : never;
/* eslint-enable @typescript-eslint/no-explicit-any */

/**
 * What one request message asks for; undefined for a message that touches nothing new (a
 * Subscribe credit grant: the stream's start was checked).
 */
export type AccessOf<Req> = (request: Req) => AccessRequest | undefined;

/** A generated `...Handlers` interface without its index signature: its RPCs only. */
export type Rpcs<Handlers> = { [K in keyof Handlers as string extends K ? never : K]: Handlers[K] };

/** One entry per RPC of a service (a generated `...Handlers` interface). */
export type AccessTable<Handlers> = {
  [K in keyof Rpcs<Handlers>]: AccessOf<RequestOf<Rpcs<Handlers>[K]>>;
};

/** A table by full method path ("/herald.v1.Broker/Publish"), as server interceptors see calls. */
export type AccessByPath = ReadonlyMap<string, AccessOf<never>>;

export function byPath(service: string, table: object): Map<string, AccessOf<never>> {
  return new Map(
    Object.entries(table as Record<string, AccessOf<never>>).map(([method, of]) => [
      `/${service}/${method}`,
      of,
    ]),
  );
}
