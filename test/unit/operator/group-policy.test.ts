import { groupPolicyOf, tagFilterProblem } from '../../../operator/controllers/consumer-group';
import type { ConsumerGroupSpec } from '../../../operator/gen/crds';

const spec: ConsumerGroupSpec = {
  topic: 'orders',
  mode: 'clustering',
  ordering: 'concurrent',
  startFrom: 'latest',
  retry: { maxRetries: 16 },
  deadLetter: { enabled: true, retentionHours: 336 },
  ackTimeoutSeconds: 30,
  maxInFlight: 1000,
};

describe('ConsumerGroup policy for brokers', () => {
  test('the spec becomes herald.v1.GroupPolicy, in milliseconds where brokers count them', () => {
    expect(groupPolicyOf(spec)).toEqual({
      tagFilter: '',
      retryDelaysSeconds: [],
      exponential: null,
      maxRetries: 16,
      deadLetter: true,
      ordered: false,
      ackTimeoutMs: 30_000,
      maxInFlight: 1000,
    });
    const custom = groupPolicyOf({
      ...spec,
      tagFilter: 'a || b',
      ordering: 'ordered',
      retry: { exponential: { initialSeconds: 1, multiplier: 3, maxSeconds: 60 }, maxRetries: 2 },
      deadLetter: { enabled: false, retentionHours: 1 },
    });
    expect(custom).toMatchObject({
      tagFilter: 'a || b',
      ordered: true,
      exponential: { initialSeconds: 1, multiplier: 3, maxSeconds: 60 },
      maxRetries: 2,
      deadLetter: false,
    });
  });

  test('a tag filter that does not parse is reported with its position', () => {
    expect(tagFilterProblem('')).toBeUndefined();
    expect(tagFilterProblem('a && !b')).toBeUndefined();
    expect(tagFilterProblem('a && (b')).toBe(
      'spec.tagFilter: expected ")" to close the "(" at position 5, found the end of the expression at position 7',
    );
  });
});
