// Server-side tag filters (a ConsumerGroup's spec.tagFilter), after QMQ's tag expressions:
// tags combined with OR (`||`, `OR`), AND (`&&`, `AND`), NOT (`!`, `NOT`) and parentheses.
// NOT binds tightest, then AND, then OR: `a || b && !c` is `a || (b && (!c))`. A tag on its
// own matches a message that carries it. Pure: a parser and a matcher, no I/O.
//
// Grammar:
//   expr   := and (('||' | 'OR') and)*
//   and    := unary (('&&' | 'AND') unary)*
//   unary  := ('!' | 'NOT') unary | '(' expr ')' | TAG
//   TAG    := 1-64 characters of [A-Za-z0-9._:-], not one of the words OR, AND, NOT

export type TagExpr =
  | { kind: 'tag'; tag: string }
  | { kind: 'not'; operand: TagExpr }
  | { kind: 'and' | 'or'; operands: TagExpr[] };

/** A valid message tag: 1-64 characters of [A-Za-z0-9._:-]. */
export const TAG_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
const TAG_CHAR = /[A-Za-z0-9._:-]/;
const WORDS = new Set(['OR', 'AND', 'NOT']);
export const MAX_FILTER_LENGTH = 1024;

/** A filter that does not parse; `position` is the 0-based character offset of the problem. */
export class TagFilterError extends Error {
  override readonly name = 'TagFilterError';
  constructor(
    readonly position: number,
    problem: string,
  ) {
    super(`${problem} at position ${position}`);
  }
}

type Token =
  | { kind: 'tag'; text: string; at: number }
  | { kind: 'or' | 'and' | 'not' | 'open' | 'close'; text: string; at: number }
  | { kind: 'end'; text: string; at: number };

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '(' || c === ')') {
      tokens.push({ kind: c === '(' ? 'open' : 'close', text: c, at: i });
      i++;
    } else if (c === '!') {
      tokens.push({ kind: 'not', text: c, at: i });
      i++;
    } else if (source.startsWith('||', i) || source.startsWith('&&', i)) {
      tokens.push({ kind: c === '|' ? 'or' : 'and', text: source.slice(i, i + 2), at: i });
      i += 2;
    } else if (TAG_CHAR.test(c)) {
      const start = i;
      while (i < source.length && TAG_CHAR.test(source[i])) i++;
      const text = source.slice(start, i);
      if (WORDS.has(text)) tokens.push({ kind: text.toLowerCase() as 'or' | 'and' | 'not', text, at: start });
      else if (text.length > 64)
        throw new TagFilterError(start, `tag "${text.slice(0, 16)}..." is longer than 64 characters`);
      else tokens.push({ kind: 'tag', text, at: start });
    } else {
      throw new TagFilterError(i, `unexpected character ${JSON.stringify(c)}`);
    }
  }
  tokens.push({ kind: 'end', text: '', at: source.length });
  return tokens;
}

/**
 * Parses a filter expression. An empty (or blank) expression is `undefined`: everything
 * matches. Throws TagFilterError with the position of the first problem.
 */
export function parseTagFilter(source: string): TagExpr | undefined {
  if (source.length > MAX_FILTER_LENGTH) {
    throw new TagFilterError(
      MAX_FILTER_LENGTH,
      `the expression is longer than ${MAX_FILTER_LENGTH} characters`,
    );
  }
  const tokens = tokenize(source);
  if (tokens.length === 1) return undefined;
  let pos = 0;
  const peek = () => tokens[pos];
  const describe = (t: Token) => (t.kind === 'end' ? 'the end of the expression' : `"${t.text}"`);

  const parseOr = (): TagExpr => {
    const operands = [parseAnd()];
    while (peek().kind === 'or') {
      pos++;
      operands.push(parseAnd());
    }
    return operands.length === 1 ? operands[0] : { kind: 'or', operands };
  };
  const parseAnd = (): TagExpr => {
    const operands = [parseUnary()];
    while (peek().kind === 'and') {
      pos++;
      operands.push(parseUnary());
    }
    return operands.length === 1 ? operands[0] : { kind: 'and', operands };
  };
  const parseUnary = (): TagExpr => {
    const t = peek();
    if (t.kind === 'not') {
      pos++;
      return { kind: 'not', operand: parseUnary() };
    }
    if (t.kind === 'open') {
      pos++;
      const inner = parseOr();
      const close = peek();
      if (close.kind !== 'close') {
        throw new TagFilterError(
          close.at,
          `expected ")" to close the "(" at position ${t.at}, found ${describe(close)}`,
        );
      }
      pos++;
      return inner;
    }
    if (t.kind === 'tag') {
      pos++;
      return { kind: 'tag', tag: t.text };
    }
    throw new TagFilterError(t.at, `expected a tag, "!" or "(", found ${describe(t)}`);
  };

  const expr = parseOr();
  const rest = peek();
  if (rest.kind !== 'end') {
    throw new TagFilterError(
      rest.at,
      `expected "||", "&&" or the end of the expression, found ${describe(rest)}`,
    );
  }
  return expr;
}

/** Whether a message with these tags passes the filter (undefined: everything passes). */
export function matchesTags(expr: TagExpr | undefined, tags: readonly string[]): boolean {
  if (expr === undefined) return true;
  switch (expr.kind) {
    case 'tag':
      return tags.includes(expr.tag);
    case 'not':
      return !matchesTags(expr.operand, tags);
    case 'and':
      return expr.operands.every((e) => matchesTags(e, tags));
    case 'or':
      return expr.operands.some((e) => matchesTags(e, tags));
  }
}
