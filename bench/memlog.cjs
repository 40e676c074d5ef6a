// A preload for the broker (BENCH_NODE_ARGS="--require $PWD/bench/memlog.cjs"): every 100 ms
// process.memoryUsage() and V8's heap spaces, and the same right after each mark-compact (what
// survived it), as JSON lines in <tmpdir>/herald-mem-<pid>.jsonl.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const v8 = require('node:v8');
const { PerformanceObserver, constants } = require('node:perf_hooks');

const fd = fs.openSync(path.join(os.tmpdir(), `herald-mem-${process.pid}.jsonl`), 'w');
const mib = (n) => Math.round((n / 2 ** 20) * 10) / 10;
const usage = () => {
  const m = process.memoryUsage();
  return {
    t: Date.now(),
    rss: mib(m.rss),
    heapTotal: mib(m.heapTotal),
    heapUsed: mib(m.heapUsed),
    external: mib(m.external),
    arrayBuffers: mib(m.arrayBuffers),
  };
};
const write = (o) => fs.writeSync(fd, `${JSON.stringify(o)}\n`);
setInterval(() => {
  const spaces = {};
  for (const s of v8.getHeapSpaceStatistics()) spaces[s.space_name] = mib(s.space_used_size);
  write({ ...usage(), spaces });
}, 100).unref();
new PerformanceObserver((list) => {
  for (const e of list.getEntries())
    if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR)
      write({ ...usage(), gc: 'major', ms: e.duration });
}).observe({ entryTypes: ['gc'] });
