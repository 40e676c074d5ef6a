// A unary call from another transport: through the interceptor chain and into a grpc-js
// handler, in process, with the request and response through the method's serializers.
import * as grpc from '@grpc/grpc-js';
import { HeraldError } from '../../../common/errors';
import { callUnary } from '../../../common/grpc/in-process';
import type { CallContext, Interceptor } from '../../../common/grpc/interceptors';
import { toServiceError } from '../../../common/grpc/status';
import { silentLogger } from '../../../common/logger';
import { unary } from '../../../common/grpc/unary';
import { loadProtos } from '../../../proto/load';
import type { AckRequest } from '../../../proto/gen/herald/v1/AckRequest';
import type { AckResponse__Input } from '../../../proto/gen/herald/v1/AckResponse';

const Ack = loadProtos().grpc.herald.v1.Broker.service.Ack;
const caller = (over: Partial<Parameters<typeof callUnary>[4]> = {}) => ({
  metadata: new grpc.Metadata(),
  peer: '127.0.0.1:5000',
  peerCertificateCn: undefined,
  cancelled: new AbortController().signal,
  ...over,
});

function recording(events: string[], refuse?: HeraldError): Interceptor {
  return {
    name: 'rec',
    admit(ctx: CallContext) {
      events.push(
        `admit ${ctx.service}/${ctx.method} ${ctx.peer} topic=${(ctx.request as { topic: string }).topic}`,
      );
      return refuse ? Promise.reject(refuse) : undefined;
    },
    ended(_ctx, code) {
      events.push(`ended ${grpc.status[code]}`);
    },
  };
}

test('the handler gets the request as grpc-js would decode it; the answer as a client would', async () => {
  const events: string[] = [];
  let seen: AckRequest | undefined;
  const handler = unary<AckRequest, AckResponse__Input>(silentLogger, 'Ack', (req, call) => {
    seen = req;
    events.push(`handler ${call.getPeer()}`);
    return { committedOffset: 7 };
  });
  const res = await callUnary([recording(events)], Ack, handler, { topic: 't', offsets: [3] }, caller());
  expect(res).toEqual({ committedOffset: 7 });
  // Defaults filled in, as over the wire.
  expect(seen).toEqual({ group: '', topic: 't', partition: 0, offsets: [3], consumerId: '', leaseEpoch: 0 });
  expect(events).toEqual([
    'admit herald.v1.Broker/Ack 127.0.0.1:5000 topic=t',
    'handler 127.0.0.1:5000',
    'ended OK',
  ]);
});

test('a refusal rejects with its HeraldError, the handler never runs, and ended hears the code', async () => {
  const events: string[] = [];
  const handler = jest.fn();
  const refusal = new HeraldError('PERMISSION_DENIED', 'no', { operation: 'consume' });
  await expect(callUnary([recording(events, refusal)], Ack, handler, {}, caller())).rejects.toBe(refusal);
  expect(handler).not.toHaveBeenCalled();
  expect(events.at(-1)).toBe('ended PERMISSION_DENIED');
});

test("a handler's failure status comes back as the HeraldError in its details", async () => {
  const events: string[] = [];
  const handler: grpc.handleUnaryCall<AckRequest, AckResponse__Input> = (_call, cb) =>
    cb(toServiceError(new HeraldError('OFFSET_NOT_DELIVERED', 'never delivered', { offset: '9' })));
  const err = await callUnary([recording(events)], Ack, handler, {}, caller()).catch((e: unknown) => e);
  expect(err).toMatchObject({
    reason: 'OFFSET_NOT_DELIVERED',
    message: 'never delivered',
    metadata: { offset: '9' },
  });
  expect(events.at(-1)).toBe('ended FAILED_PRECONDITION');
});

test('the caller going away cancels the call as a gRPC cancellation would', () => {
  const gone = new AbortController();
  let cancelled = false;
  const handler: grpc.handleUnaryCall<AckRequest, AckResponse__Input> = (call) => {
    call.on('cancelled', () => {
      cancelled = true;
    });
  };
  void callUnary([], Ack, handler, {}, caller({ cancelled: gone.signal })).catch(() => undefined);
  gone.abort();
  expect(cancelled).toBe(true);
});

test('ctx.end() rejects the call at once', async () => {
  let end: ((e: HeraldError) => void) | undefined;
  const ender: Interceptor = { name: 'ender', admit: (ctx) => void (end = (e) => ctx.end(e)) };
  const handler: grpc.handleUnaryCall<AckRequest, AckResponse__Input> = () =>
    end!(new HeraldError('SHUTTING_DOWN', 'bye'));
  await expect(callUnary([ender], Ack, handler, {}, caller())).rejects.toMatchObject({
    reason: 'SHUTTING_DOWN',
  });
});
