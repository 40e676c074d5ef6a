// Runs after the last integration test file. The run uses --runInBand, so every test file ran in
// this process: whatever a test left open (a socket, a server, a child process, a timer) is still
// here. Jest itself would only say "did not exit" and wait for ever, so list them by kind and
// address, and let --forceExit (test/run.sh) end the run. A leak named here is a test to mend.
import { ChildProcess } from 'node:child_process';
import { Server, Socket } from 'node:net';

type Handle = { constructor?: { name?: string } } | null | undefined;

function describe(handle: Handle): string | undefined {
  if (handle instanceof Socket) {
    // The process's own stdout and stderr are sockets when piped; they are not leaks.
    const fd = (handle as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (fd === 1 || fd === 2) return undefined;
    return `socket to ${handle.remoteAddress ?? '?'}:${handle.remotePort ?? '?'}`;
  }
  if (handle instanceof Server) return `server on ${JSON.stringify(handle.address())}`;
  if (handle instanceof ChildProcess)
    return `child process ${handle.pid}: ${handle.spawnargs.join(' ').slice(0, 160)}`;
  const name = handle?.constructor?.name ?? typeof handle;
  if (name === 'Timeout') {
    const timer = handle as unknown as { _idleTimeout: number; _onTimeout: unknown; hasRef(): boolean };
    if (!timer.hasRef()) return undefined;
    return `timer every ${timer._idleTimeout} ms: ${String(timer._onTimeout).replace(/\s+/g, ' ').slice(0, 160)}`;
  }
  return name;
}

export default async function globalTeardown(): Promise<void> {
  // Sockets closed by the last test's afterAll may need a moment to report closed.
  await new Promise((resolve) => setTimeout(resolve, 1_000).unref());
  const active = (process as unknown as { _getActiveHandles(): Handle[] })._getActiveHandles();
  const leaks = active.map(describe).filter((d): d is string => d !== undefined);
  if (leaks.length > 0) {
    process.stderr.write(
      `\nintegration tests left ${leaks.length} handle(s) open:\n  ${leaks.join('\n  ')}\n`,
    );
  }
}
