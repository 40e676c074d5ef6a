// Runs the environment's command-line tools (kubectl, helm, grpcurl, ...) from its bin folder.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { testEnv } from './env';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a tool from the environment's bin folder; never throws on a non-zero exit. */
export function runTool(tool: string, args: string[], input?: string): Promise<ExecResult> {
  const env = testEnv();
  return new Promise((resolve) => {
    const child = execFile(
      join(env.binDir, tool),
      args,
      { env: { ...process.env, KUBECONFIG: env.kubeconfig }, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** The lines of the ```sh blocks of a page in docs/. */
export function docShellLines(page: string): string[] {
  const doc = readFileSync(join(__dirname, '..', '..', 'docs', page), 'utf8');
  return [...doc.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1].split('\n'));
}

/**
 * Runs a documentation example in bash with the environment's tools, after the page's
 * `export TOKEN=$(kubectl -n shop create token ...)` line pointed at `namespace`; in `cwd`
 * (where the example's ca.crt and friends are).
 */
export function runDocExample(
  exportToken: string,
  namespace: string,
  example: string,
  cwd: string,
): Promise<ExecResult> {
  const env = {
    ...process.env,
    PATH: `${testEnv().binDir}:${process.env.PATH ?? ''}`,
    KUBECONFIG: testEnv().kubeconfig,
  };
  const script = [exportToken.replace('-n shop', `-n ${namespace}`), example].join('\n');
  return new Promise((resolve) => {
    execFile('bash', ['-c', script], { env, cwd }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}
