import { tagFilterProblem } from '../../../operator/controllers/consumer-group';

describe('ConsumerGroup tag filter', () => {
  test('a tag filter that does not parse is reported with its position', () => {
    expect(tagFilterProblem('')).toBeUndefined();
    expect(tagFilterProblem('a && !b')).toBeUndefined();
    expect(tagFilterProblem('a && (b')).toBe(
      'spec.tagFilter: expected ")" to close the "(" at position 5, found the end of the expression at position 7',
    );
  });
});
