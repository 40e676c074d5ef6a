// The import directions of docs/architecture.md bite: each forbidden import in a fixture is an
// error from the same rule set that `npm run lint` applies, and each allowed one is not.
import { ESLint } from 'eslint';
import type { Linter } from 'eslint';
import tseslint from 'typescript-eslint';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { boundaries } = require('../../../eslint.boundaries.cjs') as { boundaries: Linter.Config[] };

const eslint = new ESLint({
  cwd: process.cwd(),
  overrideConfigFile: true,
  overrideConfig: [{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser } }, ...boundaries],
});

async function problems(file: string, specifier: string): Promise<string[]> {
  const [result] = await eslint.lintText(`import { x } from '${specifier}';\nexport const y = x;\n`, {
    filePath: file,
  });
  return (result?.messages ?? []).map((m) => `${m.ruleId}: ${m.message}`);
}

const forbidden: [string, string][] = [
  ['client/fixture.ts', '../broker/broker'],
  ['client/cli/fixture.ts', '../../operator/operator'],
  ['client/fixture.ts', '../storage'],
  ['operator/meta/fixture.ts', '../../broker/server/broker-service'],
  ['operator/fixture.ts', '../client/producer'],
  ['common/fixture.ts', '../broker/broker'],
  ['common/grpc/fixture.ts', '../../client/producer'],
  ['common/fixture.ts', '../storage/storage'],
  ['storage/mysql/fixture.ts', '../../broker/topics'],
  ['broker/fixture.ts', '../storage/mysql/mysql-store'],
  ['broker/delivery/fixture.ts', '../../storage/memory/memory-store'],
  ['operator/fixture.ts', '../storage/mysql/mysql-store'],
  ['operator/storage/fixture.ts', '../../storage/memory/memory-store'],
  ['broker/fixture.ts', '../operator/operator'],
  ['broker/fixture.ts', '../client/producer'],
  ['proto/fixture.ts', '../common/errors'],
];

const allowed: [string, string][] = [
  ['client/fixture.ts', '../common/errors'],
  ['client/fixture.ts', '../proto/load'],
  ['broker/fixture.ts', '../storage'],
  ['broker/delivery/fixture.ts', '../../storage/storage'],
  ['operator/fixture.ts', '../storage'],
  ['operator/storage/fixture.ts', '../../storage/index'],
  ['storage/mysql/fixture.ts', '../../common/errors'],
  ['common/grpc/fixture.ts', '../errors'],
  ['test/unit/fixture.ts', '../../broker/broker'],
];

describe('import boundaries', () => {
  it.each(forbidden)('%s may not import %s', async (file, specifier) => {
    const found = await problems(file, specifier);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^no-restricted-imports: /);
  });

  it.each(allowed)('%s may import %s', async (file, specifier) => {
    expect(await problems(file, specifier)).toEqual([]);
  });
});
