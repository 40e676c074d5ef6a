// Kubernetes Events (core/v1) about Herald objects, shown by `kubectl describe`. Controllers
// record them on transitions only, so a steady state writes none. A transition can still be
// seen twice: a reconcile that runs before the watch has delivered the status the previous one
// wrote reads the old condition again. As client-go's recorder does, an event identical to one
// recorded in the last DEDUPE_MS (same object, type, reason and message) is not created again:
// the existing one's count and lastTimestamp go up.
import { randomBytes } from 'node:crypto';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { CoreV1Api, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '../../common/logger';

const DEDUPE_MS = 10 * 60_000;

export type EventType = 'Normal' | 'Warning';

export class EventRecorder {
  /** Recent events by object uid, type, reason and message: their name and count. */
  private readonly recent = new Map<string, { name: string; count: number; at: number }>();

  constructor(
    private readonly core: CoreV1Api,
    private readonly logger: Logger,
  ) {}

  /** Records an event; a failure to record is logged, never thrown. */
  async record(obj: KubernetesObject, type: EventType, reason: string, message: string): Promise<void> {
    const namespace = obj.metadata?.namespace ?? 'default';
    const name = obj.metadata?.name ?? '';
    const now = new Date();
    const key = JSON.stringify([obj.metadata?.uid ?? `${namespace}/${name}`, type, reason, message]);
    for (const [k, e] of this.recent) if (now.getTime() - e.at > DEDUPE_MS) this.recent.delete(k);
    const seen = this.recent.get(key);
    try {
      if (seen) {
        seen.count++;
        seen.at = now.getTime();
        await this.core.patchNamespacedEvent(
          { name: seen.name, namespace, body: { count: seen.count, lastTimestamp: now } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
        return;
      }
      const eventName = `${name}.${randomBytes(8).toString('hex')}`;
      this.recent.set(key, { name: eventName, count: 1, at: now.getTime() });
      await this.core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { name: eventName, namespace },
          involvedObject: {
            apiVersion: obj.apiVersion,
            kind: obj.kind,
            name,
            namespace,
            uid: obj.metadata?.uid,
            resourceVersion: obj.metadata?.resourceVersion,
          },
          type,
          reason,
          message,
          source: { component: 'herald-operator' },
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
          reportingComponent: 'herald.dev/operator',
          reportingInstance: process.env.HOSTNAME ?? 'local',
        },
      });
    } catch (err) {
      if (!seen) this.recent.delete(key); // never created: the next one is created anew
      this.logger.warn('could not record an event', { reason, object: `${namespace}/${name}`, err });
    }
  }
}
