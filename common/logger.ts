// A small structured logger: one JSON object per line, namespaced per component
// (logger.namespace('publish')). Debug lines are off unless HERALD_DEBUG names the
// component ("publish,delivery") or is "*", like grpc-js' GRPC_TRACE.

export type Level = 'debug' | 'info' | 'warn' | 'error';
export type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  namespace(name: string): Logger;
}

export interface LoggerOptions {
  /** Where lines go; stderr by default. */
  write?: (line: string) => void;
  /** Comma-separated namespaces with debug output, or "*"; defaults to $HERALD_DEBUG. */
  debug?: string;
  /** Fields on every line, e.g. { broker: 'herald-0' }. */
  base?: Fields;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const debugSpec = (options.debug ?? process.env.HERALD_DEBUG ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const debugOn = (ns: string) =>
    debugSpec.includes('*') || debugSpec.some((d) => ns === d || ns.startsWith(d + '.'));

  const make = (ns: string): Logger => {
    const debug = debugOn(ns);
    const log = (level: Level, msg: string, fields?: Fields) => {
      const line: Fields = { time: new Date().toISOString(), level, ns, msg, ...options.base, ...fields };
      write(JSON.stringify(line, errorReplacer));
    };
    return {
      debug: (msg, fields) => {
        if (debug) log('debug', msg, fields);
      },
      info: (msg, fields) => log('info', msg, fields),
      warn: (msg, fields) => log('warn', msg, fields),
      error: (msg, fields) => log('error', msg, fields),
      namespace: (name) => make(ns ? `${ns}.${name}` : name),
    };
  };
  return make('');
}

/** A logger that drops everything, for tests that do not look at logs. */
export const silentLogger: Logger = createLogger({ write: () => undefined });

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return { name: value.name, message: value.message, ...(code !== undefined ? { code } : {}) };
  }
  return value;
}
