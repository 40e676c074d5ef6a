import { loadProtos } from '../../../proto/load';
import type { Delivery__Input } from '../../../proto/gen/herald/v1/Delivery';
import type { Delivered } from '../../../broker/delivery/group-cursor';
import {
  StoredDeliveries,
  brokerServiceDefinition,
  encodePullResponse,
  encodeSubscribeResponse,
  subscribeRequestDecoder,
  toDelivery,
} from '../../../broker/server/delivery-encoding';
import { storedMessage } from '../fixtures';

const generated = loadProtos().grpc.herald.v1.Broker.service;
// protobufjs' own serializers and the generated client's deserializers.
const pullBytes = generated.Pull.responseSerialize;
const subscribeBytes = generated.Subscribe.responseSerialize;
const decodePull = (b: Buffer) => generated.Pull.responseDeserialize(b);
const decodeSubscribe = (b: Buffer) => generated.Subscribe.responseDeserialize(b);
const fail = () => {
  throw new Error('fell back to protobufjs');
};

const ref = { topic: 'orders', partition: 7 };
const plainStored: Delivered = { message: storedMessage(42, 1024), attempt: 1 };
const fullStored: Delivered = {
  message: {
    ...storedMessage(2 ** 40 + 3, 300),
    key: 'ключ-🙂',
    refKey: 'order-1',
    tags: ['a', 'b', 'ü'.repeat(80)],
    properties: { trace: 'x'.repeat(200), 'content-type': 'application/json', empty: '' },
    priority: true,
    publishedAt: 1_764_000_000_123,
    scheduled: { id: 9, deliverAt: 1_764_000_060_000 },
  },
  attempt: 3,
};
const batchStored: Delivered[] = Array.from({ length: 100 }, (_, i) => ({
  message: storedMessage(i * 997 + 1, i * 37),
  attempt: 1 + (i % 3),
}));
const plain = toDelivery(ref, plainStored);
const full: Delivery__Input = { ...toDelivery(ref, fullStored), topic: 't'.repeat(70) };
const sparse: Delivery__Input = { offset: 0, body: Buffer.alloc(0) };
const cases: [string, Delivery__Input[]][] = [
  ['one plain delivery', [plain]],
  ['every field, multi-byte strings, long strings, a large offset', [full]],
  ['defaults and absent fields', [sparse]],
  [
    'a batch of 100',
    Array.from({ length: 100 }, (_, i) =>
      toDelivery(ref, { message: storedMessage(i + 1, i * 37), attempt: 1 + (i % 3) }),
    ),
  ],
];

describe('delivery encoding (PullResponse, SubscribeResponse)', () => {
  test.each(cases)('PullResponse bytes equal protobufjs: %s', (_name, ds) => {
    const mine = encodePullResponse({ messages: ds }, fail);
    expect(mine.equals(pullBytes({ messages: ds }))).toBe(true);
    expect(decodePull(mine)).toEqual(decodePull(pullBytes({ messages: ds })));
  });

  test.each(cases)('SubscribeResponse deliveries bytes equal protobufjs: %s', (_name, ds) => {
    const mine = encodeSubscribeResponse({ deliveries: ds }, fail);
    expect(mine.equals(subscribeBytes({ deliveries: ds }))).toBe(true);
  });

  test('a single delivery, decoded back by the generated client', () => {
    const mine = encodeSubscribeResponse({ delivery: full }, fail);
    expect(mine.equals(subscribeBytes({ delivery: full }))).toBe(true);
    const back = decodeSubscribe(mine).delivery!;
    expect(back.offset).toBe(2 ** 40 + 3);
    expect(back.key).toBe('ключ-🙂');
    expect(back.tags).toEqual(['a', 'b', 'ü'.repeat(80)]);
    expect(back.properties['content-type']).toBe('application/json');
    expect(back.scheduledId).toBe('orders/7/d9');
    expect(back.deliverAtMs).toBe(1_764_000_060_000);
    expect(back.deliveryAttempt).toBe(3);
    expect(back.priority).toBe(true);
    expect(back.body.length).toBe(300);
  });

  test('deliveries with an ack refusal: protobufjs bytes, the refusal encoded by protobufjs', () => {
    const res = { deliveries: [plain], ackRefused: { offsets: [5, 6], status: { code: 9, message: 'no' } } };
    const mine = encodeSubscribeResponse(res, subscribeBytes);
    expect(mine.equals(subscribeBytes(res))).toBe(true);
    expect(decodeSubscribe(mine).ackRefused!.offsets).toEqual([5, 6]);
  });

  test('responses without deliveries, and input only protobufjs converts, go to protobufjs', () => {
    const seen: unknown[] = [];
    const spy = (res: object) => {
      seen.push(res);
      return Buffer.from([1]);
    };
    expect(encodeSubscribeResponse({ ackRefused: { offsets: [1] } }, spy)).toEqual(Buffer.from([1]));
    expect(encodePullResponse({ messages: [] }, spy)).toEqual(Buffer.from([1]));
    const asString = { ...plain, offset: '42' };
    expect(encodePullResponse({ messages: [asString] }, spy)).toEqual(Buffer.from([1]));
    expect(seen).toHaveLength(3);
    // And the served definition gives the same bytes protobufjs does for such input.
    const served = brokerServiceDefinition().Pull.responseSerialize;
    expect(served({ messages: [asString] }).equals(pullBytes({ messages: [asString] }))).toBe(true);
  });

  test('the served definition encodes Pull and Subscribe here, and leaves the other methods alone', () => {
    const served = brokerServiceDefinition();
    expect(served.Pull.responseSerialize).not.toBe(generated.Pull.responseSerialize);
    expect(served.Subscribe.responseSerialize).not.toBe(generated.Subscribe.responseSerialize);
    expect(served.Publish).toBe(generated.Publish);
    expect(served.Pull.requestDeserialize).toBe(generated.Pull.requestDeserialize);
  });
});

describe("deliveries encoded straight from stored messages: the generated encoder's bytes", () => {
  const refs = [ref, { topic: 't'.repeat(70), partition: 65_535 }, { topic: 'a', partition: 0 }];
  const stored: [string, Delivered[]][] = [
    ['one plain message', [plainStored]],
    ['every field, multi-byte strings, a large offset, fallen due', [fullStored]],
    ['offset 0, an empty body', [{ message: storedMessage(0, 0), attempt: 0 }]],
    ['a batch of 100', batchStored],
  ];
  const cross = refs.flatMap((r) =>
    stored.map(([name, ds]): [string, typeof r, Delivered[]] => [name, r, ds]),
  );

  test.each(cross)('%s (%j)', (_name, r, ds) => {
    const objects = ds.map((d) => toDelivery(r, d));
    const pull = encodePullResponse(new StoredDeliveries(r, ds, 'messages'), fail);
    expect(pull.equals(pullBytes({ messages: objects }))).toBe(true);
    const many = encodeSubscribeResponse(new StoredDeliveries(r, ds, 'deliveries'), fail);
    expect(many.equals(subscribeBytes({ deliveries: objects }))).toBe(true);
    const one = encodeSubscribeResponse(new StoredDeliveries(r, ds.slice(0, 1), 'delivery'), fail);
    expect(one.equals(subscribeBytes({ delivery: objects[0] }))).toBe(true);
    expect(decodePull(pull).messages.map((m) => m.messageId)).toEqual(objects.map((o) => o.messageId));
  });

  test("as the generated types, its fields are toDelivery's objects; out of range goes to protobufjs", () => {
    const res = new StoredDeliveries(ref, [plainStored], 'messages');
    expect(res.messages).toEqual([plain]);
    expect(res.delivery).toBeUndefined();
    expect(pullBytes(res).equals(pullBytes({ messages: [plain] }))).toBe(true);
    const negative = new StoredDeliveries(ref, [{ message: storedMessage(-1), attempt: 1 }], 'deliveries');
    const seen: unknown[] = [];
    const spy = (r: object) => {
      seen.push(r);
      return Buffer.from([1]);
    };
    const dueNegative = new StoredDeliveries(
      ref,
      [{ message: { ...storedMessage(5), scheduled: { id: 1, deliverAt: -1 } }, attempt: 1 }],
      'messages',
    );
    expect(encodeSubscribeResponse(negative, spy)).toEqual(Buffer.from([1]));
    expect(encodePullResponse(dueNegative, spy)).toEqual(Buffer.from([1]));
    expect(seen).toEqual([negative, dueNegative]);
  });
});

describe("Subscribe's acks, decoded here: what protobufjs' decoder gives", () => {
  const encode = generated.Subscribe.requestSerialize;
  const protobufjs = generated.Subscribe.requestDeserialize;
  const decode = subscribeRequestDecoder(protobufjs);
  // Falls back to protobufjs once only, for the decoder's template (an empty ack).
  let templates = 0;
  const strict = subscribeRequestDecoder((b) => (templates++ === 0 ? protobufjs(b) : fail()));

  test.each([
    ['no offsets', []],
    ['one', [1]],
    ['a window of a drain', Array.from({ length: 1000 }, (_, i) => 1_000_000 + i)],
    ['zero, one byte, two bytes, 2^53 - 1', [0, 127, 128, 2 ** 53 - 1]],
  ])('%s', (_name, offsets: number[]) => {
    const bytes = encode({ ack: { offsets } });
    expect(strict(bytes)).toEqual(protobufjs(bytes));
    expect(decode(bytes).ack?.offsets).toEqual(offsets);
  });

  test("anything else is protobufjs' own: other kinds, unpacked offsets, an offset past 2^53, a cut message", () => {
    const unpacked = Buffer.from([0x1a, 0x04, 0x08, 0x05, 0x08, 0x06]);
    const huge = encode({ ack: { offsets: ['18446744073709551615'] } });
    for (const bytes of [
      encode({ credits: 100 }),
      encode({ start: { group: 'g', topic: 't', partition: 1 } }),
      unpacked,
      huge,
      Buffer.concat([encode({ ack: { offsets: [5] } }), encode({ credits: 1 })]),
    ]) {
      expect(() => strict(bytes)).toThrow('fell back to protobufjs');
      expect(decode(bytes)).toEqual(protobufjs(bytes));
    }
    expect(decode(unpacked).ack?.offsets).toEqual([5, 6]);
    const cut = encode({ ack: { offsets: [300, 400] } }).subarray(0, 5);
    expect(() => decode(cut)).toThrow();
  });
});
