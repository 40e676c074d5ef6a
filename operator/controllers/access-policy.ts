// AccessPolicy -> status: how many subjects it binds, and Ready. Brokers read the policies
// themselves (common/security/access-watch.ts); the schema's CEL rules have already refused
// malformed ones, so a policy that exists is in force.
import { AccessPolicyResource } from '../../common/gen/crds';
import type { AccessPolicyStatus } from '../../common/gen/crds';
import { patchStatus } from '../kube/client';
import { setCondition } from '../reconcile/conditions';
import { sameJson } from '../reconcile/diff';
import type { ControllerContext } from './context';
import { isPaused, splitKey } from './context';
import type { ReconcileResult } from './controller';

export async function reconcileAccessPolicy(
  ctx: ControllerContext,
  key: string,
): Promise<ReconcileResult | undefined> {
  const policy = ctx.caches.policies.get(key);
  if (!policy || policy.metadata?.deletionTimestamp || isPaused(policy)) return undefined;
  const { namespace, name } = splitKey(key);
  const generation = policy.metadata?.generation ?? 0;
  const subjects = policy.spec.subjects.length;
  const status: AccessPolicyStatus = {
    observedGeneration: generation,
    subjects,
    conditions: setCondition(
      policy.status?.conditions,
      {
        type: 'Ready',
        status: 'True',
        reason: 'InForce',
        message: `${subjects} subject(s), ${policy.spec.rules.length} rule(s)`,
      },
      generation,
      new Date(),
    ),
  };
  if (!sameJson(status, policy.status ?? {}))
    await patchStatus(ctx.custom, AccessPolicyResource, namespace, name, status);
  return undefined;
}
