// What a container builder does with the Dockerfile and .dockerignore, reproduced on the host
// for the image test (this machine has no container engine): the build context is the
// repository filtered by .dockerignore, each stage's filesystem is a directory of its own, and
// COPY, RUN, WORKDIR, ENV and CMD act on those directories. Only the instructions our
// Dockerfile uses are supported; anything else throws, so a new instruction cannot be skipped
// silently.
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';

interface Pattern {
  exclude: boolean;
  regex: RegExp;
  /** The part before the first wildcard: directories it could re-include beneath. */
  literal: string;
}

/** .dockerignore: `#` comments, `!` re-includes, later lines win; a pattern that matches a
 * directory matches everything beneath it; `*` and `?` stay within one path segment, `**`
 * spans any number of them. */
export class DockerIgnore {
  private readonly patterns: Pattern[];

  constructor(text: string) {
    this.patterns = text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => {
        const exclude = !l.startsWith('!');
        const p = posix.normalize((exclude ? l : l.slice(1)).trim()).replace(/^\/+|\/+$/g, '');
        return { exclude, regex: globRegex(p), literal: p.split(/[*?[\\]/)[0] };
      });
  }

  /** Whether a path (relative, with /) is left out of the context. */
  excluded(path: string): boolean {
    const prefixes = path.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
    let out = false;
    for (const p of this.patterns) if (prefixes.some((x) => p.regex.test(x))) out = p.exclude;
    return out;
  }

  /** Whether an excluded directory may still hold re-included paths (so the walk goes in). */
  mayReinclude(dir: string): boolean {
    return this.patterns.some(
      (p) => !p.exclude && (p.literal.startsWith(`${dir}/`) || `${dir}/`.startsWith(p.literal)),
    );
  }
}

function globRegex(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*' && pattern[i + 1] === '*') {
      i++;
      if (pattern[i + 1] === '/') {
        i++;
        re += '(?:.*/)?';
      } else re += '.*';
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i);
      re += pattern.slice(i, end + 1).replace(/^\[!/, '[^');
      i = end;
    } else if (c === '\\') re += `\\${pattern[++i]}`;
    else re += c.replace(/[.+^${}()|\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** The build context: every file and symlink of `root` that .dockerignore admits. */
export function buildContext(root: string, ignore: DockerIgnore): Set<string> {
  const files = new Set<string>();
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(root, rel))) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const stat = lstatSync(join(root, path));
      if (stat.isDirectory()) {
        if (!ignore.excluded(path) || ignore.mayReinclude(path)) walk(path);
      } else if (!ignore.excluded(path)) files.add(path);
    }
  };
  walk('');
  return files;
}

export interface Stage {
  name: string;
  from: string;
  instructions: { op: string; args: string }[];
}

/** The Dockerfile's stages with their instructions (continuation lines joined, comments dropped). */
export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  for (const line of lines.map((l) => l.trim())) {
    if (line === '' || line.startsWith('#')) continue;
    const [, op, args] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const instruction = op.toUpperCase();
    if (instruction === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!m) throw new Error(`cannot read FROM ${args}`);
      stages.push({ from: m[1], name: m[2] ?? String(stages.length), instructions: [] });
    } else if (instruction !== 'ARG' || stages.length > 0) {
      stages.at(-1)?.instructions.push({ op: instruction, args });
    }
  }
  return stages;
}

/** A stage's result: its filesystem (a directory standing for /), working directory, env, CMD. */
export interface Built {
  root: string;
  workdir: string;
  env: Record<string, string>;
  cmd: string[];
}

/**
 * Runs every stage: a stage FROM an earlier stage starts from that stage's filesystem (shared
 * when it changes no file), any other base from an empty directory (the base image's tools,
 * node and npm, are the host's). COPY takes from the build context or, with --from, from an
 * earlier stage. RUN runs with sh in the stage's working directory; its failure throws with the
 * command's output.
 */
export function buildStages(
  dockerfile: string,
  contextRoot: string,
  context: Set<string>,
): Map<string, Built> {
  const built = new Map<string, Built>();
  for (const stage of parseDockerfile(dockerfile)) {
    const base = built.get(stage.from);
    const writes = stage.instructions.some((i) => i.op === 'COPY' || i.op === 'RUN');
    const b: Built = base
      ? { ...base, root: writes ? clone(base.root) : base.root, env: { ...base.env }, cmd: [...base.cmd] }
      : { root: mkdtempSync(join(tmpdir(), `herald-stage-${stage.name}-`)), workdir: '/', env: {}, cmd: [] };
    for (const { op, args } of stage.instructions) {
      if (op === 'WORKDIR') {
        b.workdir = posix.resolve(b.workdir, args);
        mkdirSync(join(b.root, b.workdir), { recursive: true });
      } else if (op === 'ENV') {
        const [, k, v] = /^(\S+?)[= ](.*)$/.exec(args) ?? [];
        b.env[k] = v;
      } else if (op === 'COPY') {
        copy(args, b, contextRoot, context, built);
      } else if (op === 'RUN') {
        try {
          execFileSync('sh', ['-c', args], {
            cwd: join(b.root, b.workdir),
            env: { ...process.env, ...b.env },
            stdio: ['ignore', 'pipe', 'pipe'],
            maxBuffer: 64 * 1024 * 1024,
          });
        } catch (err) {
          const e = err as { stdout?: Buffer; stderr?: Buffer };
          throw new Error(`RUN ${args} failed:\n${String(e.stdout ?? '')}${String(e.stderr ?? '')}`);
        }
      } else if (op === 'CMD') {
        b.cmd = JSON.parse(args) as string[];
      } else if (!['USER', 'EXPOSE', 'ARG', 'LABEL'].includes(op)) {
        throw new Error(`the image test does not know ${op}`);
      }
    }
    built.set(stage.name, b);
  }
  return built;
}

function copy(
  args: string,
  b: Built,
  contextRoot: string,
  context: Set<string>,
  built: Map<string, Built>,
): void {
  const words = args.split(/\s+/);
  const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
  const paths = words.filter((w) => !w.startsWith('--'));
  const dest = paths.pop() as string;
  const destAbs = join(b.root, posix.resolve(b.workdir, dest));
  for (const src of paths) {
    if (/[*?[]/.test(src)) throw new Error(`the image test does not expand wildcards (COPY ${src})`);
    if (from !== undefined) {
      const stage = built.get(from);
      if (!stage) throw new Error(`COPY --from=${from}: no such stage`);
      cpSync(
        join(stage.root, src),
        paths.length > 1 || dest.endsWith('/') ? join(destAbs, posix.basename(src)) : destAbs,
        {
          recursive: true,
          verbatimSymlinks: true,
        },
      );
      continue;
    }
    const s = posix.normalize(src).replace(/\/+$/, '');
    const matched = [...context].filter((f) => f === s || f.startsWith(`${s}/`));
    if (matched.length === 0) throw new Error(`COPY ${src}: not found in the build context`);
    for (const f of matched) {
      const to =
        f === s
          ? dest.endsWith('/')
            ? join(destAbs, posix.basename(f))
            : destAbs
          : join(destAbs, f.slice(s.length + 1));
      mkdirSync(dirname(to), { recursive: true });
      const abs = join(contextRoot, f);
      if (lstatSync(abs).isSymbolicLink()) symlinkSync(readlinkSync(abs), to);
      else cpSync(abs, to);
    }
  }
}

function clone(root: string): string {
  const to = mkdtempSync(join(tmpdir(), 'herald-stage-'));
  cpSync(root, to, { recursive: true, verbatimSymlinks: true });
  return to;
}

/** The repository's Dockerfile and .dockerignore. */
export function readImageFiles(root: string): { dockerfile: string; ignore: DockerIgnore } {
  return {
    dockerfile: readFileSync(join(root, 'Dockerfile'), 'utf8'),
    ignore: new DockerIgnore(readFileSync(join(root, '.dockerignore'), 'utf8')),
  };
}
