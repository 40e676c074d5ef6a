// BrokerPool -> StatefulSet, Services, PDB, ConfigMap and ServiceAccount (see
// broker-pool-objects.ts), all owned by the pool; the pool's certificate from the operator's CA
// in a Secret (renewed at two thirds of its life, or when the CA changes); the brokers' RBAC;
// status counts the ready brokers. Objects are applied (server-side) only when they differ from
// what exists, so a steady state makes no writes.
import type { KubernetesObject, V1Secret } from '@kubernetes/client-node';
import { issue, validityOf } from '../ca/ca';
import { currentCertificate, renewalDelayMs } from '../ca/certificate-secret';
import type { BrokerPool, BrokerPoolStatus } from '../gen/crds';
import { poolInfoOf } from '../meta/from-crds';
import { BrokerPoolResource } from '../gen/crds';
import { apply, isNotFound, patchStatus, readIfExists } from '../kube/client';
import { setCondition } from '../reconcile/conditions';
import { isSubset, sameJson } from '../reconcile/diff';
import {
  MANAGED_BY,
  brokerCertificateRequest,
  brokerPoolObjects,
  brokerRbacObjects,
  desiredReplicas,
  names,
  ownerReference,
  securityOf,
} from './broker-pool-objects';
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
  // Level-based over the namespace's pools: a deleted pool's ServiceAccount leaves the binding.
  await reconcileBrokerRbac(ctx, namespace);
  if (!pool) {
    ctx.meta.removePool(namespace, name);
    return undefined;
  }
  if (isPaused(pool) || pool.metadata?.deletionTimestamp) return undefined;
  ctx.meta.setPool(namespace, name, poolInfoOf(pool));

  const renewal = await reconcileCertificate(ctx, pool);
  const totalPartitions = poolPartitions(ctx, namespace, name);
  const desiredObjects = brokerPoolObjects(pool, {
    metaAddress: ctx.options.metaAddress,
    totalPartitions,
    metaPlaintext: ctx.options.metaPlaintext,
  });
  for (const desired of desiredObjects) {
    const actual = await existing(ctx, desired);
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
  return renewal === undefined ? undefined : { requeueAfterMs: renewal };
}

/**
 * The pool's certificate in names(pool).tls, issued when missing, due for renewal or signed by
 * another CA; returns when to look again (undefined: no certificate of ours to renew).
 */
async function reconcileCertificate(ctx: ControllerContext, pool: BrokerPool): Promise<number | undefined> {
  const { tls } = securityOf(pool);
  if (!tls.enabled || tls.secretName !== undefined) return undefined;
  const namespace = pool.metadata?.namespace ?? '';
  const secretName = names(pool.metadata?.name ?? '').tls;
  const secret = await readIfExists(() => ctx.core.readNamespacedSecret({ namespace, name: secretName }));
  const ca = await ctx.ca.get();
  const current = currentCertificate(secret, ca);
  if (current) return renewalDelayMs(current);
  const pair = await issue(ca, brokerCertificateRequest(pool));
  const body: V1Secret = {
    metadata: {
      name: secretName,
      namespace,
      labels: { ...MANAGED_BY, 'herald.dev/pool': pool.metadata?.name ?? '' },
      ownerReferences: [ownerReference(pool)],
    },
    type: 'kubernetes.io/tls',
    stringData: { 'tls.crt': pair.cert, 'tls.key': pair.key, 'ca.crt': ca.cert },
  };
  if (secret) await ctx.core.replaceNamespacedSecret({ namespace, name: secretName, body });
  else await ctx.core.createNamespacedSecret({ namespace, body });
  await ctx.events.record(
    pool,
    'Normal',
    'CertificateIssued',
    `the brokers' certificate is in Secret ${secretName}`,
  );
  return renewalDelayMs(validityOf(pair.cert));
}

/** The ClusterRole of brokers and the namespace's binding of its pools' ServiceAccounts to it. */
async function reconcileBrokerRbac(ctx: ControllerContext, namespace: string): Promise<void> {
  const pools = ctx.caches.pools.list().filter((p) => p.metadata?.namespace === namespace);
  const { role, binding, bindingName } = brokerRbacObjects(namespace, pools);
  if (binding) {
    for (const desired of [role, binding]) {
      const actual = await existing(ctx, desired);
      if (!actual || !isSubset(desired, actual)) await apply(ctx.objects, desired);
    }
    return;
  }
  try {
    await ctx.objects.delete({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: bindingName },
    });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/** The object as it is: from the watches' caches, or read (kinds no watch covers; undefined when missing). */
async function existing(
  ctx: ControllerContext,
  obj: KubernetesObject,
): Promise<KubernetesObject | undefined> {
  if (!['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding'].includes(obj.kind ?? ''))
    return cached(ctx, obj);
  return readIfExists(() =>
    ctx.objects.read({
      apiVersion: obj.apiVersion ?? '',
      kind: obj.kind ?? '',
      metadata: { name: obj.metadata?.name ?? '', namespace: obj.metadata?.namespace },
    }),
  );
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
