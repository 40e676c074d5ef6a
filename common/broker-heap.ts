// V8's heap sizing for a broker process, from the memory limit of its container. Without a
// cap V8 lets garbage pile up to a large share of the machine's memory before a full GC (on a
// 24 GB machine a broker's old space swung between ~90 MiB live and ~240 MiB, and its Buffers
// with it, freed only by that GC: peak RSS 530 MiB for 90 MiB of live objects). The cap makes
// V8 collect early; the rest of the limit is for Buffers (message bodies, sockets), code and the
// young generation. The operator sets it in the broker container's NODE_OPTIONS; bench:peers
// starts its broker with the same flags. Pure; unit-tested.
//
// Half the limit, and V8's own young generation: a quarter (128 MiB old space, 8 MiB
// semi-spaces for 512 MiB) doubled the broker's CPU per message in the throughput phases (GC
// threads at work) and, in session 8's quiet run of bench:peers, ended the broker with the heap
// exhausted while the SDK drained a 200,000 backlog after the batch and each phases.
import { OptionsError } from './options';

/** Share of the container's memory limit given to V8's old space. */
const OLD_SPACE_SHARE = 1 / 2;
/** The smallest old space the broker is given, whatever the limit (its own code and protos). */
const MIN_OLD_SPACE_MIB = 96;

const SUFFIX: Record<string, number> = {
  '': 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};
const NUMBER = String.raw`[+-]?(?:\d+(?:\.\d*)?|\.\d+)`;
/** The CRD's quantity pattern: a number, then a binary or decimal suffix or an exponent. */
const QUANTITY = new RegExp(`^(${NUMBER})(?:([KMGTPE]i|[numkMGTPE])|[eE](${NUMBER}))?$`);

/**
 * A Kubernetes memory quantity (`512Mi`, `1G`, `268435456`, `1.5Gi`, `1e9`) in bytes; `field`
 * names it in the error for anything else, or for one that is not positive.
 */
export function memoryBytes(quantity: string | number, field: string): number {
  const m = QUANTITY.exec(String(quantity).trim());
  const bytes = m ? Number(m[1]) * (m[3] !== undefined ? 10 ** Number(m[3]) : SUFFIX[m[2] ?? '']) : NaN;
  if (!Number.isFinite(bytes) || bytes < 1)
    throw new OptionsError(
      field,
      `must be a memory quantity of at least one byte, such as 512Mi or 1G, got ${String(quantity)}`,
    );
  return Math.floor(bytes);
}

/** The node flags (NODE_OPTIONS) of a broker whose container may use `limitBytes`. */
export function brokerHeapFlags(limitBytes: number): string[] {
  const oldSpace = Math.max(MIN_OLD_SPACE_MIB, Math.floor((limitBytes / 2 ** 20) * OLD_SPACE_SHARE));
  return [`--max-old-space-size=${oldSpace}`];
}
