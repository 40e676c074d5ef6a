// Proves the command-line tools are the real ones and talk to the local control plane:
// kubectl serves a CRD applied from YAML, helm reaches the cluster, grpcurl and ghz run.
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTool } from '../exec';
import { uniqueName } from '../env';
import { waitFor } from '../wait';

test('a CRD applied with kubectl is served', async () => {
  const group = `${uniqueName('smoke')}.herald.dev`;
  const crd = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.${group}
spec:
  group: ${group}
  scope: Namespaced
  names: { plural: widgets, singular: widget, kind: Widget }
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: { type: integer, minimum: 1 }
`;
  const dir = mkdtempSync(join(tmpdir(), 'herald-smoke-'));
  writeFileSync(join(dir, 'crd.yaml'), crd);
  const applied = await runTool('kubectl', ['apply', '-f', join(dir, 'crd.yaml')]);
  expect(applied.stderr).toBe('');
  expect(applied.code).toBe(0);
  try {
    const established = await runTool('kubectl', [
      'wait',
      '--for=condition=Established',
      `crd/widgets.${group}`,
      '--timeout=60s',
    ]);
    expect(established.code).toBe(0);
    const widget = `apiVersion: ${group}/v1\nkind: Widget\nmetadata: { name: w1, namespace: default }\nspec: { size: 3 }\n`;
    await waitFor('the new resource to be served', async () => {
      const r = await runTool('kubectl', ['apply', '-f', '-'], widget);
      return r.code === 0 ? true : undefined;
    });
    const got = await runTool('kubectl', [
      'get',
      `widgets.${group}`,
      'w1',
      '-n',
      'default',
      '-o',
      'jsonpath={.spec.size}',
    ]);
    expect(got.stdout).toBe('3');
    const invalid = await runTool('kubectl', ['apply', '-f', '-'], widget.replace('size: 3', 'size: 0'));
    expect(invalid.code).not.toBe(0);
    expect(invalid.stderr).toMatch(/spec.size/);
  } finally {
    await runTool('kubectl', ['delete', 'crd', `widgets.${group}`, '--wait=false']);
  }
});

test('kubectl reaches the apiserver and reports the pinned version', async () => {
  const r = await runTool('kubectl', ['version', '-o', 'json']);
  expect(r.code).toBe(0);
  const v = JSON.parse(r.stdout) as {
    clientVersion: { gitVersion: string };
    serverVersion: { gitVersion: string };
  };
  expect(v.serverVersion.gitVersion).toMatch(/^v1\.\d+\.\d+$/);
  expect(v.clientVersion.gitVersion).toBe(v.serverVersion.gitVersion);
});

test('helm reports its pinned version and reaches the cluster', async () => {
  const version = await runTool('helm', ['version', '--short']);
  expect(version.stdout).toMatch(/^v3\.\d+\.\d+/);
  const r = await runTool('helm', ['list', '--all-namespaces', '-o', 'json']);
  expect(r.code).toBe(0);
  expect(Array.isArray(JSON.parse(r.stdout))).toBe(true);
});

test('grpcurl and ghz answer', async () => {
  const grpcurl = await runTool('grpcurl', ['-version']);
  expect(grpcurl.code).toBe(0);
  expect(grpcurl.stdout + grpcurl.stderr).toMatch(/grpcurl v\d+\.\d+\.\d+/);
  const ghz = await runTool('ghz', ['--version']);
  expect(ghz.code).toBe(0);
  expect(ghz.stdout + ghz.stderr).toMatch(/v\d+\.\d+\.\d+/);
});
