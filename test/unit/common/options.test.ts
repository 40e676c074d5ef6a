import {
  OptionsError,
  bool,
  check,
  defaults,
  field,
  hostPort,
  int,
  matches,
  nonEmpty,
  num,
  oneOf,
  resolve,
} from '../../../common/options';
import type { Table } from '../../../common/options';

interface Section {
  size: number;
  ratio: number;
  on: boolean;
  mode: 'a' | 'b';
  listen: string;
  name: string;
  url: string;
}

const table: Table<Section> = {
  size: field(4, int(1, 8)),
  ratio: field(0.5, num({ above: 0, max: 1 })),
  on: field(true, bool),
  mode: field<Section['mode']>('a', oneOf('a', 'b')),
  listen: field('127.0.0.1:1', hostPort),
  name: field('x', nonEmpty),
  url: field('db://x', matches(/^db:\/\/\w+$/, 'db://<name>')),
};

function problem(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(OptionsError);
    expect(err).toBeInstanceOf(RangeError);
    return (err as Error).message;
  }
  throw new Error('expected an OptionsError');
}

test('defaults spread first, then what is set; undefined and unknown keys are not taken', () => {
  expect(defaults(table)).toEqual({
    size: 4,
    ratio: 0.5,
    on: true,
    mode: 'a',
    listen: '127.0.0.1:1',
    name: 'x',
    url: 'db://x',
  });
  const o = resolve('s', table, { size: 8, on: undefined, other: 1 } as Partial<Section>);
  expect(o).toEqual({ ...defaults(table), size: 8 });
});

test('every rule has one wording that names the field and the value', () => {
  expect(
    [
      { size: 0 },
      { size: 2.5 },
      { ratio: 0 },
      { on: 'true' },
      { mode: 'c' },
      { listen: 'nope' },
      { name: '' },
      { url: 'x' },
    ].map((bad) => problem(() => resolve('s', table, bad as Partial<Section>))),
  ).toEqual([
    's.size must be an integer in 1..8, got 0',
    's.size must be an integer in 1..8, got 2.5',
    's.ratio must be a number in (0, 1], got 0',
    's.on must be true or false, got "true"',
    's.mode must be one of a, b, got "c"',
    's.listen must be host:port, got "nope"',
    's.name must be a non-empty string, got ""',
    's.url must be db://<name>, got "x"',
  ]);
  expect(problem(() => check('n', -1, int(0)))).toBe('n must be an integer >= 0, got -1');
  expect(problem(() => check('n', Infinity, num({ min: 0 })))).toBe('n must be a number >= 0, got Infinity');
  expect(new OptionsError('n', 'is odd').field).toBe('n');
});
