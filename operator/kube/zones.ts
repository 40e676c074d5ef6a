// The zone of a broker that does not know its own: the downward API cannot show a pod its
// node's labels, so the meta-server reads the pod named after the broker (a StatefulSet pod's
// name is its broker id) and that node's topology.kubernetes.io/zone. Answers are cached, and
// anything missing or forbidden means "unknown" (''), which only turns the nearby rule off.
import type { CoreV1Api } from '@kubernetes/client-node';
import type { Logger } from '../../common/logger';
import { statusCode } from './client';

export const ZONE_LABEL = 'topology.kubernetes.io/zone';

export class PodZones {
  private readonly cache = new Map<string, { zone: string; until: number }>();

  constructor(
    private readonly core: CoreV1Api,
    private readonly logger: Logger,
    private readonly ttlMs = 5 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  async zoneOfPod(namespace: string, name: string): Promise<string> {
    const key = `${namespace}/${name}`;
    const hit = this.cache.get(key);
    if (hit && hit.until > this.now()) return hit.zone;
    let zone = '';
    try {
      const pod = await this.core.readNamespacedPod({ namespace, name });
      const nodeName = pod.spec?.nodeName;
      if (nodeName) {
        const node = await this.core.readNode({ name: nodeName });
        zone = node.metadata?.labels?.[ZONE_LABEL] ?? '';
      }
    } catch (err) {
      // 404: not a pod (a broker outside the cluster); 403: the RBAC leaves zones out.
      this.logger.debug('no zone for broker', { namespace, name, status: statusCode(err) ?? String(err) });
    }
    // An unscheduled pod gets its node soon: only a known zone is kept for the full TTL.
    this.cache.set(key, { zone, until: this.now() + (zone ? this.ttlMs : 10_000) });
    return zone;
  }
}
