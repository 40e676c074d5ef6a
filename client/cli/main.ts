// The herald command line: `npx herald --help` (bin/herald runs this file through ts-node).
import { readFile } from 'node:fs/promises';
import { parseCommandLine } from './args';
import { runCommand } from './commands';
import { errorLine, exitCodeFor } from './exit-codes';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

// A closed pipe (herald consume ... | head -1) ends the run quietly.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

async function main(): Promise<number> {
  const { global, command } = parseCommandLine(process.argv.slice(2), process.env);
  const interrupted = new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  return runCommand(global, command, {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    readStdin,
    readFile: (path) => readFile(path, 'utf8'),
    interrupted,
  });
}

main().then(
  (code) => {
    process.exitCode = code;
    // Open gRPC channels and signal handlers must not keep the process alive.
    setImmediate(() => process.exit(code));
  },
  (err: unknown) => {
    process.stderr.write(errorLine(err) + '\n');
    process.exit(exitCodeFor(err));
  },
);
