// Summarises a V8 .cpuprofile (node --cpu-prof, e.g. BENCH_NODE_ARGS of bench:peers): self time
// per function and per package, and total (inclusive) time of Herald's own frames.
//
//   node -r ts-node/register/transpile-only bench/cpuprofile.ts <file.cpuprofile> [top=25] [fromSec]
//
// fromSec skips the first seconds of the profile (the broker's start-up) so that the summary
// covers the run only. Percentages are of the sampled wall time: V8 samples on a timer, so a
// descheduled broker shows as "(idle)" or in the frame that was running when it lost its core.
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The package a frame belongs to: node_modules/<pkg>, node:<module>, herald/<dir>, or V8's own. */
export function packageOf(url: string): string {
  if (url === '') return '(v8)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.startsWith('node:')) return url.split('/')[0];
  const herald = /\/(broker|common|storage|proto|client)\/(.*?)(\.js|\.ts)$/.exec(url);
  if (herald) return `herald/${herald[1]}/${herald[2].split('/')[0]}`;
  return url;
}

export function frameName(frame: CallFrame): string {
  const file = frame.url.split('/').slice(-2).join('/');
  return `${frame.functionName || '(anonymous)'} ${file}:${frame.lineNumber + 1}`;
}

export interface Summary {
  totalMs: number;
  self: Map<string, number>;
  packages: Map<string, number>;
  /** Inclusive time of each Herald frame (counted once per sample even when recursive). */
  heraldTotal: Map<string, number>;
}

export function summarise(profile: CpuProfile, fromUs = 0): Summary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const summary: Summary = { totalMs: 0, self: new Map(), packages: new Map(), heraldTotal: new Map() };
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  let at = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i];
    const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    if (at < fromUs || ms <= 0) continue;
    const node = byId.get(profile.samples[i])!;
    summary.totalMs += ms;
    add(summary.self, frameName(node.callFrame), ms);
    add(summary.packages, packageOf(node.callFrame.url), ms);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id)!.callFrame;
      if (!packageOf(frame.url).startsWith('herald/')) continue;
      const name = frameName(frame);
      if (!seen.has(name)) add(summary.heraldTotal, name, ms);
      seen.add(name);
    }
  }
  return summary;
}

function table(title: string, m: Map<string, number>, total: number, top: number): string {
  const rows = [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
  return [
    `\n${title}`,
    ...rows.map(
      ([k, v]) => `${((100 * v) / total).toFixed(1).padStart(6)} %  ${v.toFixed(0).padStart(7)} ms  ${k}`,
    ),
  ].join('\n');
}

if (require.main === module) {
  const [file, topArg, fromArg] = process.argv.slice(2);
  if (!file) {
    console.error('usage: bench/cpuprofile.ts <file.cpuprofile> [top] [fromSec]');
    process.exit(2);
  }
  const top = Number(topArg ?? 25);
  const s = summarise(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, Number(fromArg ?? 0) * 1e6);
  console.log(`sampled ${s.totalMs.toFixed(0)} ms`);
  console.log(table('self time per function', s.self, s.totalMs, top));
  console.log(table('self time per package', s.packages, s.totalMs, top));
  console.log(table('total time of Herald frames', s.heraldTotal, s.totalMs, top));
}
