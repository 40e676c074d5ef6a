// Status conditions as Kubernetes conventions want them: one per type, lastTransitionTime
// changes only when status does, observedGeneration says which spec they describe. Pure.
import type { Condition } from '../gen/crds';

export interface ConditionInput {
  type: string;
  status: Condition['status'];
  reason: string;
  message: string;
}

/** `conditions` with `next` set (added or replaced), in type order. */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  next: ConditionInput,
  observedGeneration: number,
  now: Date,
): Condition[] {
  const old = conditions?.find((c) => c.type === next.type);
  const lastTransitionTime =
    old !== undefined && old.status === next.status
      ? old.lastTransitionTime
      : now.toISOString().replace(/\.\d+Z$/, 'Z');
  const updated: Condition = { ...next, lastTransitionTime, observedGeneration };
  return [...(conditions ?? []).filter((c) => c.type !== next.type), updated].sort((a, b) =>
    a.type < b.type ? -1 : a.type > b.type ? 1 : 0,
  );
}

export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'True';
}
