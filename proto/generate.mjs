// Generates TypeScript types for every service and message in proto/herald from the .proto
// files, with the same load options the servers use at run time (proto/load-options.json).
// The output in proto/gen/ is never edited or committed.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, mkdirSync, statSync } from 'node:fs';
import { join, dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const protoDir = dirname(fileURLToPath(import.meta.url));
const outDir = join(protoDir, 'gen');
const options = JSON.parse(readFileSync(join(protoDir, 'load-options.json'), 'utf8'));

function protoFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'gen' ? [] : protoFiles(path);
    return name.endsWith('.proto') ? [relative(protoDir, path)] : [];
  });
}

const files = protoFiles(join(protoDir, 'herald'));
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
if (files.length === 0) {
  console.log('proto: no .proto files under proto/herald; nothing to generate');
  process.exit(0);
}
const args = [
  '--grpcLib=@grpc/grpc-js',
  `--outDir=${outDir}`,
  `--includeDirs=${protoDir}`,
  `--longs=${options.longs}`,
  `--enums=${options.enums}`,
  ...(options.keepCase ? ['--keepCase'] : []),
  ...(options.defaults ? ['--defaults'] : []),
  ...(options.oneofs ? ['--oneofs'] : []),
  '--inputTemplate=%s__Input',
  '--outputTemplate=%s',
  ...files,
];
const bin = join(protoDir, '..', 'node_modules', '.bin', 'proto-loader-gen-types');
execFileSync(bin, args, { cwd: protoDir, stdio: ['ignore', 'ignore', 'inherit'] });
console.log(`proto: generated types for ${files.length} file(s) into proto/gen`);
