// The console's charts: per group and per topic, a bounded ring of samples (time, end offset and
// lag per partition) taken from the GetLag answers the console proxies for signed-in callers.
// Bounded twice: samples per ring, and rings (the least recently written goes first). Pure.

export interface Series {
  /** Sample times (ms), oldest first. */
  t: number[];
  /** endOffset[i][p]: partition p's end offset at t[i]. */
  endOffset: number[][];
  /** lag[i][p]: the group's lag on partition p at t[i] (empty rows for a topic's ring). */
  lag: number[][];
}

export interface Sample {
  t: number;
  endOffset: number[];
  lag: number[];
}

export interface SeriesLimits {
  samples: number;
  keys: number;
  /** Samples closer than this to the previous one replace it (many callers, one chart). */
  minIntervalMs: number;
}

export const SERIES_LIMITS: SeriesLimits = { samples: 360, keys: 1000, minIntervalMs: 2000 };

export class SeriesStore {
  private readonly rings = new Map<string, Sample[]>();

  constructor(private readonly limits: SeriesLimits = SERIES_LIMITS) {}

  record(key: string, sample: Sample): void {
    const ring = this.rings.get(key) ?? [];
    this.rings.delete(key);
    this.rings.set(key, ring);
    const last = ring[ring.length - 1];
    if (last && sample.t - last.t < this.limits.minIntervalMs) ring[ring.length - 1] = sample;
    else ring.push(sample);
    if (ring.length > this.limits.samples) ring.splice(0, ring.length - this.limits.samples);
    while (this.rings.size > this.limits.keys) this.rings.delete(this.rings.keys().next().value!);
  }

  get(key: string): Series {
    const ring = this.rings.get(key) ?? [];
    return { t: ring.map((s) => s.t), endOffset: ring.map((s) => s.endOffset), lag: ring.map((s) => s.lag) };
  }
}
