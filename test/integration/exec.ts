// Runs the environment's command-line tools (kubectl, helm, grpcurl, ...) from its bin folder.
import { execFile } from 'node:child_process';
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
