import { TagFilterError, matchesTags, parseTagFilter } from '../../../common/tag-filter';

const matches = (expr: string, tags: string[]) => matchesTags(parseTagFilter(expr), tags);

function errorOf(expr: string): TagFilterError {
  try {
    parseTagFilter(expr);
  } catch (err) {
    if (err instanceof TagFilterError) return err;
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(expr)} not to parse`);
}

describe('tag filter', () => {
  test('an empty or blank expression matches everything', () => {
    expect(parseTagFilter('')).toBeUndefined();
    expect(parseTagFilter('   ')).toBeUndefined();
    expect(matchesTags(undefined, [])).toBe(true);
  });

  test('a tag matches messages that carry it', () => {
    expect(matches('red', ['red', 'big'])).toBe(true);
    expect(matches('red', ['blue'])).toBe(false);
    expect(matches('red', [])).toBe(false);
    expect(matches('order.v2:eu-west-1', ['order.v2:eu-west-1'])).toBe(true);
  });

  test('OR and AND in both spellings', () => {
    for (const or of ['a || b', 'a OR b', 'a||b']) {
      expect(matches(or, ['b'])).toBe(true);
      expect(matches(or, ['c'])).toBe(false);
    }
    for (const and of ['a && b', 'a AND b', 'a&&b']) {
      expect(matches(and, ['a', 'b'])).toBe(true);
      expect(matches(and, ['a'])).toBe(false);
    }
    expect(matches('a || b || c', ['c'])).toBe(true);
  });

  test('NOT binds tightest, then AND, then OR', () => {
    // a || (b && (!c))
    expect(parseTagFilter('a || b && !c')).toEqual({
      kind: 'or',
      operands: [
        { kind: 'tag', tag: 'a' },
        {
          kind: 'and',
          operands: [
            { kind: 'tag', tag: 'b' },
            { kind: 'not', operand: { kind: 'tag', tag: 'c' } },
          ],
        },
      ],
    });
    expect(matches('a || b && !c', ['a', 'c'])).toBe(true);
    expect(matches('a || b && !c', ['b', 'c'])).toBe(false);
    expect(matches('a && b || c', ['c'])).toBe(true);
    expect(matches('NOT a AND b', ['b'])).toBe(true);
    expect(matches('!!a', ['a'])).toBe(true);
  });

  test('parentheses override precedence', () => {
    expect(matches('(a || b) && c', ['a'])).toBe(false);
    expect(matches('(a || b) && c', ['b', 'c'])).toBe(true);
    expect(matches('!(a || b)', ['c'])).toBe(true);
    expect(matches('!(a || b)', ['b'])).toBe(false);
    expect(matches('((a))', ['a'])).toBe(true);
  });

  test('errors say what is wrong and where', () => {
    expect(errorOf('a ||')).toMatchObject({ position: 4 });
    expect(errorOf('a ||').message).toBe(
      'expected a tag, "!" or "(", found the end of the expression at position 4',
    );
    expect(errorOf('(a || b')).toMatchObject({ position: 7 });
    expect(errorOf('(a || b').message).toContain('expected ")" to close the "(" at position 0');
    expect(errorOf('a b').message).toBe(
      'expected "||", "&&" or the end of the expression, found "b" at position 2',
    );
    expect(errorOf('a | b').message).toBe('unexpected character "|" at position 2');
    expect(errorOf('a && )')).toMatchObject({ position: 5 });
    expect(errorOf('AND a')).toMatchObject({ position: 0 });
    expect(errorOf('x'.repeat(65)).message).toContain('longer than 64 characters');
    expect(errorOf('a'.repeat(1025)).message).toContain('longer than 1024 characters');
  });
});
