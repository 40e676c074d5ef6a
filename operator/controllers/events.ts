// Kubernetes Events (core/v1) about Herald objects, shown by `kubectl describe`. Controllers
// record them on transitions only, so a steady state writes none.
import { randomBytes } from 'node:crypto';
import type { CoreV1Api, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '../../common/logger';

export type EventType = 'Normal' | 'Warning';

export class EventRecorder {
  constructor(
    private readonly core: CoreV1Api,
    private readonly logger: Logger,
  ) {}

  /** Records an event; a failure to record is logged, never thrown. */
  async record(obj: KubernetesObject, type: EventType, reason: string, message: string): Promise<void> {
    const namespace = obj.metadata?.namespace ?? 'default';
    const name = obj.metadata?.name ?? '';
    const now = new Date();
    try {
      await this.core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { name: `${name}.${randomBytes(8).toString('hex')}`, namespace },
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
      this.logger.warn('could not record an event', { reason, object: `${namespace}/${name}`, err });
    }
  }
}
