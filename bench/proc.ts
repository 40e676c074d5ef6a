// What the benchmarks read about processes from /proc: CPU time, RSS, process trees, and the
// machine's load. Linux only (the benchmarks run on the project's Linux box).
import { readFileSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';

/** Resident set size of a process in MiB (NaN once it is gone). */
export function rssMiB(pid: number): number {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('VmRSS:'));
    return line ? Number(line.split(/\s+/)[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** CPU seconds used so far by a process (user + system), from /proc; 0 once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return 0;
  }
}

/** Read and write system calls made so far by a process (/proc/<pid>/io); NaN once it is gone. */
export function ioCounters(pid: number): { syscr: number; syscw: number } {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const get = (name: string) => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(io)?.[1] ?? NaN);
    return { syscr: get('syscr'), syscw: get('syscw') };
  } catch {
    return { syscr: NaN, syscw: NaN };
  }
}

function pids(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

/** Processes whose command name (/proc/<pid>/comm) is `comm`. */
export function pidsNamed(comm: string): number[] {
  return pids().filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === comm;
    } catch {
      return false;
    }
  });
}

/** Processes whose command line has `arg` as one of its arguments (the Kafka broker: 'kafka.Kafka'). */
export function pidsWithArgument(arg: string): number[] {
  return pids().filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(arg);
    } catch {
      return false;
    }
  });
}

/** A process and all its descendants. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const pid of pids()) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), pid]);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (pid: number) => {
    out.push(pid);
    for (const c of children.get(pid) ?? []) walk(c);
  };
  walk(root);
  return out;
}

/** The 1, 5 and 15 minute load averages. */
export function loadAverage(): [number, number, number] {
  const [a, b, c] = readFileSync('/proc/loadavg', 'utf8').split(' ').map(Number);
  return [a, b, c];
}

/**
 * CPU used by named groups of processes between start and the call of the returned function,
 * in % of one core; 'client' is this process.
 */
export function cpuMeter(groups: Record<string, () => number[]>): () => Record<string, number> {
  const sample = () => {
    const out: Record<string, number> = {};
    for (const [name, of] of Object.entries(groups))
      out[name] = of().reduce((s, pid) => s + cpuSeconds(pid), 0);
    return out;
  };
  const wall = performance.now();
  const client = process.cpuUsage();
  const start = sample();
  return () => {
    const seconds = (performance.now() - wall) / 1000;
    const now = sample();
    const used = process.cpuUsage(client);
    const out: Record<string, number> = { client: (100 * (used.user + used.system)) / 1e6 / seconds };
    for (const name of Object.keys(groups)) out[name] = (100 * (now[name] - start[name])) / seconds;
    return out;
  };
}

/** Fails when something already listens on 127.0.0.1:port (another benchmark's peer, say). */
export async function requireFreePort(port: number, what: string): Promise<void> {
  const inUse = await new Promise<boolean>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
  if (inUse)
    throw new Error(`127.0.0.1:${port} (${what}) is in use: another benchmark running? Set BENCH_PORT`);
}

/** A process's CPU (% of a core, as cpuMeter gives it) as microseconds per message at `rate` msg/s. */
export function microsPerMessage(cpuPercent: number, rate: number): number {
  return ((cpuPercent / 100) * 1e6) / rate;
}

/** Bytes allocated while the profiler ran: the used heap's growth between collections, summed. */
export function allocatedBytes(
  stats: {
    beforeGC: { heapStatistics: { usedHeapSize: number } };
    afterGC: { heapStatistics: { usedHeapSize: number } };
  }[],
  startUsed: number,
  endUsed: number,
): number {
  let total = 0;
  let after = startUsed;
  for (const s of stats) {
    total += s.beforeGC.heapStatistics.usedHeapSize - after;
    after = s.afterGC.heapStatistics.usedHeapSize;
  }
  return total + endUsed - after;
}
