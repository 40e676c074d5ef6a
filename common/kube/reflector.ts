// Keeps a local cache of one resource type by list + watch, and tells a handler about every
// object that changed. client-node's informer stops on errors and its watches can hang on
// half-open connections (FIELD-NOTES), so this one:
// - relists after any error (with backoff), after 410 Gone, and every `relistMs` anyway;
// - has a watchdog: a watch with no event or bookmark for `watchdogMs` is abandoned;
// - reports every cached object again on each relist, so handlers never depend on an event
//   having arrived (level-based reconciles need only "something may have changed").
import { Watch } from '@kubernetes/client-node';
import type { KubeConfig, KubernetesObject, KubernetesObjectApi } from '@kubernetes/client-node';
import type { Logger } from '../logger';

/** A resource type: what to list and where to watch it. */
export interface ResourceType {
  apiVersion: string;
  kind: string;
  plural: string;
}

/** The watch (and list) URL path of a resource type, in one namespace or all. */
export function resourcePath(type: ResourceType, namespace?: string): string {
  const base = type.apiVersion.includes('/') ? `/apis/${type.apiVersion}` : `/api/${type.apiVersion}`;
  return namespace ? `${base}/namespaces/${namespace}/${type.plural}` : `${base}/${type.plural}`;
}

export interface ReflectorOptions {
  kc: KubeConfig;
  objects: KubernetesObjectApi;
  type: ResourceType;
  /** Watch one namespace, or all when undefined. */
  namespace?: string;
  labelSelector?: string;
  relistMs: number;
  watchdogMs: number;
  logger: Logger;
  /** Called with the namespace/name of every object added, changed, deleted or relisted. */
  onChange: (key: string, obj: KubernetesObject | undefined) => void;
  /** Called before each list request (the only reads besides the watch), for a counter. */
  onList?: () => void;
}

const objectKey = (obj: KubernetesObject) => `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;

export class Reflector<T extends KubernetesObject> {
  private readonly cache = new Map<string, T>();
  private stopped = false;
  private synced = false;
  private abort: AbortController | undefined;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;

  constructor(private readonly options: ReflectorOptions) {}

  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    const log = this.options.logger;
    let failures = 0;
    while (!this.stopped) {
      try {
        const resourceVersion = await this.relist();
        failures = 0;
        await this.watch(resourceVersion);
      } catch (err) {
        if (this.stopped) return;
        failures++;
        log.warn('list/watch failed; relisting', { kind: this.options.type.kind, err, failures });
        await this.sleep(Math.min(30_000, 500 * 2 ** Math.min(failures, 6)));
      }
    }
  }

  private async relist(): Promise<string> {
    const { objects, type, namespace, labelSelector } = this.options;
    this.options.onList?.();
    const list = await objects.list<T>(
      type.apiVersion,
      type.kind,
      namespace,
      undefined,
      undefined,
      undefined,
      undefined,
      labelSelector,
    );
    const seen = new Set<string>();
    for (const item of list.items) {
      const obj = { apiVersion: type.apiVersion, kind: type.kind, ...item };
      const key = objectKey(obj);
      seen.add(key);
      this.cache.set(key, obj);
    }
    const gone = [...this.cache.keys()].filter((k) => !seen.has(k));
    for (const key of gone) this.cache.delete(key);
    this.synced = true;
    for (const key of seen) this.options.onChange(key, this.cache.get(key));
    for (const key of gone) this.options.onChange(key, undefined);
    return list.metadata?.resourceVersion ?? '';
  }

  /** Watches until the watch ends, the watchdog fires, or it is time to relist. */
  private watch(resourceVersion: string): Promise<void> {
    const { kc, type, namespace, labelSelector, relistMs, watchdogMs, onChange } = this.options;
    return new Promise<void>((resolve, reject) => {
      let lastEvent = Date.now();
      let finished = false;
      const finish = (err?: unknown) => {
        if (finished) return;
        finished = true;
        clearInterval(watchdog);
        clearTimeout(relist);
        this.wake = undefined;
        this.abort?.abort();
        if (err) reject(err instanceof Error ? err : new Error(JSON.stringify(err)));
        else resolve();
      };
      const watchdog = setInterval(
        () => {
          if (Date.now() - lastEvent > watchdogMs) {
            this.options.logger.warn('watch silent too long; restarting', { kind: type.kind, watchdogMs });
            finish();
          }
        },
        Math.max(100, Math.floor(watchdogMs / 4)),
      );
      const relist = setTimeout(() => finish(), relistMs);
      this.wake = () => finish();
      new Watch(kc)
        .watch(
          resourcePath(type, namespace),
          {
            resourceVersion,
            allowWatchBookmarks: true,
            labelSelector,
            timeoutSeconds: Math.ceil(relistMs / 1000),
          },
          (phase: string, raw: unknown) => {
            lastEvent = Date.now();
            if (phase === 'BOOKMARK') return;
            const obj = raw as T;
            if (phase === 'ERROR') {
              // 410 Gone and friends arrive as a Status object: relist.
              finish(new Error(`watch error: ${JSON.stringify(raw)}`));
              return;
            }
            const key = objectKey(obj);
            if (phase === 'DELETED') this.cache.delete(key);
            else this.cache.set(key, { apiVersion: type.apiVersion, kind: type.kind, ...obj });
            onChange(key, this.cache.get(key));
          },
          (err: unknown) => finish(err ?? undefined),
        )
        .then((controller) => {
          this.abort = controller;
          if (finished) controller.abort();
        })
        .catch((err: unknown) => finish(err));
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
