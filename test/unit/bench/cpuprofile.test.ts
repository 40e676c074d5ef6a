import { packageOf, summarise } from '../../../bench/cpuprofile';

const frame = (functionName: string, url: string) => ({ functionName, url, lineNumber: 0 });

describe('bench/cpuprofile', () => {
  test('frames are grouped by npm package, node module, Herald directory or V8', () => {
    expect(packageOf('file:///w/node_modules/mysql2/lib/base/connection.js')).toBe('mysql2');
    expect(packageOf('file:///w/node_modules/@grpc/grpc-js/build/src/server.js')).toBe('@grpc/grpc-js');
    expect(packageOf('node:internal/http2/core')).toBe('node:internal');
    expect(packageOf('file:///w/dist/broker/delivery/delivery.js')).toBe('herald/broker/delivery');
    expect(packageOf('')).toBe('(v8)');
  });

  test('self time per function and package, inclusive time of Herald frames, start skipped', () => {
    // root -> run (broker) -> query (mysql2); samples every 1 ms: start-up, run, query, query.
    const profile = {
      nodes: [
        { id: 1, callFrame: frame('(root)', ''), children: [2] },
        { id: 2, callFrame: frame('run', 'file:///w/dist/broker/publish/publisher.js'), children: [3] },
        { id: 3, callFrame: frame('query', 'file:///w/node_modules/mysql2/lib/c.js') },
      ],
      samples: [2, 2, 3, 3],
      timeDeltas: [0, 1000, 1000, 1000],
    };
    const all = summarise(profile);
    // A sample lasts until the next one: the last sample has no length.
    expect(all.totalMs).toBe(3);
    expect(all.packages.get('mysql2')).toBe(1);
    expect(all.heraldTotal.get('run publish/publisher.js:1')).toBe(3);
    const run = summarise(profile, 1000);
    expect(run.totalMs).toBe(2);
    expect(run.self.get('query lib/c.js:1')).toBe(1);
    expect(run.self.get('run publish/publisher.js:1')).toBe(1);
  });
});
