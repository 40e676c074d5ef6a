// The import directions of docs/architecture.md, enforced by lint:
//
//   proto  <-  common  <-  storage  <-  broker
//                 ^            ^------  operator
//                 '-------------------  client (the SDK and CLI)
//
// A package imports only the packages to its left. The broker and the operator reach storage
// adapters only through the storage factory (storage/index.ts); the operator imports no broker code; the SDK
// imports no server code. test/unit/lint/boundaries.test.ts proves each rule bites.
const packages = ['common', 'storage', 'broker', 'operator', 'client', 'bench', 'test'];

/** A no-restricted-imports pattern for a relative import that reaches into `pkg/`. */
const into = (pkg, message) => ({ regex: `^(\\.\\./)+${pkg}(/|$)`, message });

/** The pattern that keeps `pkg/` off storage adapters (storage/<adapter>/). */
const adapters = (pkg) => ({
  regex: '^(\\.\\./)+storage/[^/]+/',
  message: `${pkg}/ reaches storage adapters only through the factory (storage/index.ts).`,
});

const forbid = {
  proto: packages.map((p) => into(p, 'proto/ is the contract: it imports no Herald package.')),
  common: ['storage', 'broker', 'operator', 'client', 'bench', 'test'].map((p) =>
    into(p, 'common/ is the foundation: it imports only proto/.'),
  ),
  storage: ['broker', 'operator', 'client', 'bench', 'test'].map((p) =>
    into(p, 'storage/ imports only common/ and proto/.'),
  ),
  broker: [
    ...['operator', 'client', 'bench', 'test'].map((p) =>
      into(p, 'broker/ imports only common/, storage/ and proto/.'),
    ),
    adapters('broker'),
  ],
  operator: [
    ...['broker', 'client', 'bench', 'test'].map((p) =>
      into(p, 'operator/ imports no broker or SDK code: only common/, storage/ and proto/.'),
    ),
    adapters('operator'),
  ],
  client: ['storage', 'broker', 'operator', 'bench', 'test'].map((p) =>
    into(p, 'client/ (the SDK and CLI) imports no server code: only common/ and proto/.'),
  ),
};

const boundaries = Object.entries(forbid).map(([pkg, patterns]) => ({
  files: [`${pkg}/**/*.ts`],
  rules: { 'no-restricted-imports': ['error', { patterns }] },
}));

module.exports = { boundaries };
