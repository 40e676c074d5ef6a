// Integration tests wait on real servers (a StatefulSet rollout, a lease expiry), so each test
// may take up to two minutes; unit tests keep Jest's default of five seconds.
jest.setTimeout(120_000);
