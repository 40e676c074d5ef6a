import { silentLogger } from '../../../../common/logger';
import { resolveOperatorOptions } from '../../../../operator/operator';

const tls = { caFile: 'ca.crt', certFile: 'tls.crt', keyFile: 'tls.key' };

test('the console needs authentication, and a host:port', () => {
  expect(() => resolveOperatorOptions({ logger: silentLogger, consoleListen: '127.0.0.1:9700' })).toThrow(
    'consoleListen the console needs security.authentication (callers sign in with a token)',
  );
  expect(() =>
    resolveOperatorOptions({
      logger: silentLogger,
      consoleListen: 'everywhere',
      security: { tls, authentication: true },
    }),
  ).toThrow(/consoleListen/);
  const o = resolveOperatorOptions({
    logger: silentLogger,
    consoleListen: '127.0.0.1:9700',
    security: { tls, authentication: true },
  });
  expect(o.consoleListen).toBe('127.0.0.1:9700');
  expect(o.consoleDir).toMatch(/dist\/console$/);
  // Off unless asked for.
  expect(resolveOperatorOptions({ logger: silentLogger }).consoleListen).toBeUndefined();
});
