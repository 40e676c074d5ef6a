// helm template of the chart (charts/herald) for the monitoring tests, and the metric names its
// PrometheusRule and Grafana dashboard query.
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { runTool } from '../exec';

const chart = join(__dirname, '..', '..', '..', 'charts', 'herald');
const RENDER = ['--kube-version', '1.34.4', '--set', 'mysql.url=mysql://u:p@db:3306/herald'];

export async function renderChart(extra: string[]): Promise<string> {
  const r = await runTool('helm', ['template', 'mon', chart, '-n', 'default', ...RENDER, ...extra]);
  if (r.code !== 0) throw new Error(`helm template: ${r.stderr}`);
  return r.stdout;
}

/** Every herald_* metric the rendered alert rules and dashboard query, sorted. */
export async function monitoredMetricNames(): Promise<string[]> {
  const out = await renderChart(['--set', 'prometheusRule.enabled=true', '--set', 'dashboard.enabled=true']);
  const queries: string[] = [];
  for (const doc of parseAllDocuments(out)) {
    const o = doc.toJS() as {
      kind?: string;
      spec?: { groups: { rules: { expr: string }[] }[] };
      data?: Record<string, string>;
    } | null;
    if (o?.kind === 'PrometheusRule')
      queries.push(...o.spec!.groups.flatMap((g) => g.rules.map((r) => r.expr)));
    if (o?.kind === 'ConfigMap' && o.data?.['herald.json']) {
      const d = parse(o.data['herald.json']) as {
        panels: { targets?: { expr: string }[] }[];
        templating: { list: { query: string }[] };
      };
      queries.push(...d.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)));
      queries.push(...d.templating.list.map((v) => v.query));
    }
  }
  return [...new Set(queries.flatMap((q) => q.match(/\bherald_[a-z0-9_]+/g) ?? []))].sort();
}

/**
 * The names of `wanted` a scrape declares (its `# TYPE` lines; a histogram's _bucket, _count and
 * _sum series by the histogram's name).
 */
export function declaredIn(scrape: string, wanted: string[]): string[] {
  const types = new Map(
    scrape
      .split('\n')
      .filter((l) => l.startsWith('# TYPE '))
      .map((l) => l.split(' ').slice(2, 4) as [string, string]),
  );
  return wanted.filter((name) => {
    if (types.has(name)) return true;
    const base = name.replace(/_(bucket|count|sum)$/, '');
    return base !== name && types.get(base) === 'histogram';
  });
}
