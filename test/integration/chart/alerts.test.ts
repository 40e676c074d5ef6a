// The chart's optional monitoring parts: the PrometheusRule's alerts pass `promtool test rules`
// on synthetic series (alerts.promtool.yaml), a wrong expectation fails it, and `helm template`
// with the rules and the Grafana dashboard enabled is accepted by the real apiserver
// (--dry-run=server) once the PrometheusRule CRD is installed.
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { runTool } from '../exec';
import { renderChart } from './render';

/** The rendered PrometheusRule's groups as a Prometheus rules file, next to the promtool tests. */
async function rulesDir(): Promise<string> {
  const out = await renderChart([
    '--set',
    'prometheusRule.enabled=true',
    '--show-only',
    'templates/prometheusrule.yaml',
  ]);
  const rule = parse(out) as { kind: string; spec: { groups: unknown[] } };
  expect(rule.kind).toBe('PrometheusRule');
  const dir = mkdtempSync(join(tmpdir(), 'herald-alerts-'));
  writeFileSync(join(dir, 'rules.yaml'), stringify({ groups: rule.spec.groups }));
  copyFileSync(join(__dirname, 'alerts.promtool.yaml'), join(dir, 'alerts.promtool.yaml'));
  return dir;
}

test('promtool test rules passes for every shipped alert', async () => {
  const dir = await rulesDir();
  const check = await runTool('promtool', ['check', 'rules', join(dir, 'rules.yaml')]);
  expect(check.stdout + check.stderr).toContain('SUCCESS: 9 rules found');
  const tested = await runTool('promtool', ['test', 'rules', join(dir, 'alerts.promtool.yaml')]);
  expect(tested.code === 0 ? 'passed' : tested.stdout + tested.stderr).toBe('passed');
  // Every alert of the chart has a test.
  const rules = (
    parse(readFileSync(join(dir, 'rules.yaml'), 'utf8')) as { groups: { rules: { alert: string }[] }[] }
  ).groups.flatMap((g) => g.rules.map((r) => r.alert));
  const tests = readFileSync(join(dir, 'alerts.promtool.yaml'), 'utf8');
  for (const alert of rules) expect(tests).toContain(`alertname: ${alert}`);
});

test('promtool fails when a rule does not behave as its test expects', async () => {
  const dir = await rulesDir();
  const file = join(dir, 'alerts.promtool.yaml');
  writeFileSync(
    file,
    readFileSync(file, 'utf8').replace("summary: 'Topic orders is held", "summary: 'Topic audit is held"),
  );
  const tested = await runTool('promtool', ['test', 'rules', file]);
  expect(tested.code).not.toBe(0);
  expect(tested.stdout + tested.stderr).toContain('HeraldPublishThrottled');
});

test('helm template with the rules and the dashboard enabled is accepted by the apiserver', async () => {
  const crd = join(__dirname, 'prometheusrules-crd.yaml');
  const installed = await runTool('kubectl', ['apply', '--server-side', '--force-conflicts', '-f', crd]);
  expect(installed.code === 0 ? 'ok' : installed.stderr).toBe('ok');
  await runTool('kubectl', ['wait', '--for=condition=Established', '--timeout=60s', '-f', crd]);
  const out = await renderChart(['--set', 'prometheusRule.enabled=true', '--set', 'dashboard.enabled=true']);
  const kinds = parseAllDocuments(out).map((d) => (d.toJS() as { kind?: string } | null)?.kind);
  expect(kinds).toContain('PrometheusRule');
  const dashboard = parseAllDocuments(out)
    .map(
      (d) =>
        d.toJS() as { kind?: string; metadata?: { name?: string }; data?: Record<string, string> } | null,
    )
    .find((d) => d?.kind === 'ConfigMap' && d.metadata?.name === 'mon-herald-dashboard');
  expect(Object.keys(JSON.parse(dashboard!.data!['herald.json']) as object)).toContain('panels');
  const file = join(mkdtempSync(join(tmpdir(), 'herald-mon-')), 'rendered.yaml');
  writeFileSync(file, out);
  const applied = await runTool('kubectl', ['apply', '--dry-run=server', '-f', file]);
  expect(applied.code === 0 ? 'accepted' : applied.stderr).toBe('accepted');
  expect(applied.stdout).toContain(
    'prometheusrule.monitoring.coreos.com/mon-herald-alerts created (server dry run)',
  );
  expect(applied.stdout).toContain('configmap/mon-herald-dashboard created (server dry run)');
});
