// Two projects: `unit` needs no environment and runs in seconds; `integration` talks to the
// real MariaDB, Kafka and Kubernetes control plane that its global setup brings up (or reuses).
//
// Herald compiles to CommonJS and loads the few ESM-only packages (@kubernetes/client-node and
// its dependencies) through Node's require(esm). Jest's own module loader cannot do that on
// Node 20, so those packages are transpiled to CommonJS for tests only.
const esmOnly = [
  '@kubernetes/client-node',
  'jsonpath-plus',
  '@jsep-plugin',
  'openid-client',
  'jose',
  'oauth4webapi',
  'rfc4648',
];
const common = {
  testEnvironment: 'node',
  transform: { '^.+\\.[tj]s$': ['ts-jest', { tsconfig: 'tsconfig.jest.json' }] },
  transformIgnorePatterns: [`/node_modules/(?!(${esmOnly.join('|')})/)`],
};

module.exports = {
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
    },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/integration/global-setup.ts',
      globalTeardown: '<rootDir>/test/integration/global-teardown.ts',
      setupFilesAfterEnv: ['<rootDir>/test/integration/setup-timeout.ts'],
    },
  ],
};
