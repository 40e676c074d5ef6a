// BrokerPool -> StatefulSet, Services, PDB and ConfigMap (see broker-pool-objects.ts), all
// owned by the pool; status counts the ready brokers. Objects are applied (server-side) only
// when they differ from what exists, so a steady state makes no writes.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { BrokerPoolStatus } from '../gen/crds';
import { poolInfoOf } from '../meta/from-crds';
import { BrokerPoolResource } from '../gen/crds';
import { apply, patchStatus } from '../kube/client';
import { setCondition } from '../reconcile/conditions';
import { isSubset, sameJson } from '../reconcile/diff';
import { brokerPoolObjects, desiredReplicas, names } from './broker-pool-objects';
import type { ControllerContext } from './context';
import { isPaused, splitKey } from './context';
import type { ReconcileResult } from './controller';

export function poolPartitions(ctx: ControllerContext, namespace: string, pool: string): number {
  return ctx.caches.topics
    .list()
    .filter(
      (t) => t.metadata?.namespace === namespace && t.spec.pool === pool && !t.metadata?.deletionTimestamp,
    )
    .reduce((sum, t) => sum + t.spec.partitions, 0);
}

export async function reconcileBrokerPool(
  ctx: ControllerContext,
  key: string,
): Promise<ReconcileResult | undefined> {
  const pool = ctx.caches.pools.get(key);
  const { namespace, name } = splitKey(key);
  if (!pool) {
    ctx.meta.removePool(namespace, name);
    return undefined;
  }
  if (isPaused(pool) || pool.metadata?.deletionTimestamp) return undefined;
  ctx.meta.setPool(namespace, name, poolInfoOf(pool));

  const totalPartitions = poolPartitions(ctx, namespace, name);
  for (const desired of brokerPoolObjects(pool, { metaAddress: ctx.options.metaAddress, totalPartitions })) {
    const actual = cached(ctx, desired);
    if (actual && isSubset(desired, actual)) continue;
    await apply(ctx.objects, desired);
    if (!actual) {
      await ctx.events.record(
        pool,
        'Normal',
        'Created',
        `created ${desired.kind} ${desired.metadata?.name ?? ''}`,
      );
    }
  }

  const sts = ctx.caches.statefulSets.get(`${namespace}/${names(name).statefulSet}`);
  const replicas = desiredReplicas(pool, totalPartitions);
  const ready = sts?.status?.readyReplicas ?? 0;
  const allReady = replicas > 0 && ready >= replicas;
  const generation = pool.metadata?.generation ?? 0;
  const old: BrokerPoolStatus = pool.status ?? {};
  const status: BrokerPoolStatus = {
    observedGeneration: generation,
    replicas,
    readyReplicas: ready,
    readyText: `${ready}/${replicas}`,
    conditions: setCondition(
      old.conditions,
      {
        type: 'Ready',
        status: allReady ? 'True' : 'False',
        reason: allReady ? 'BrokersReady' : 'BrokersNotReady',
        message: `${ready} of ${replicas} brokers ready`,
      },
      generation,
      new Date(),
    ),
  };
  if (!sameJson(status, old)) {
    await patchStatus(ctx.custom, BrokerPoolResource, namespace, name, status);
    if (allReady && old.conditions?.find((c) => c.type === 'Ready')?.status !== 'True') {
      await ctx.events.record(pool, 'Normal', 'Ready', `${ready} of ${replicas} brokers ready`);
    }
  }
  return undefined;
}

function cached(ctx: ControllerContext, obj: KubernetesObject): KubernetesObject | undefined {
  const key = `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
  switch (obj.kind) {
    case 'StatefulSet':
      return ctx.caches.statefulSets.get(key);
    case 'Service':
      return ctx.caches.services.get(key);
    case 'PodDisruptionBudget':
      return ctx.caches.pdbs.get(key);
    case 'ConfigMap':
      return ctx.caches.configMaps.get(key);
    default:
      return undefined;
  }
}
