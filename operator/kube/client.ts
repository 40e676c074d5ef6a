// The operator's edge to the apiserver: server-side apply for owned objects, merge patches for
// status, and classifying API errors by HTTP status (never by message text).
import { ApiException, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { CustomObjectsApi, KubernetesObject, KubernetesObjectApi } from '@kubernetes/client-node';

export const FIELD_MANAGER = 'herald-operator';

export function statusCode(err: unknown): number | undefined {
  return err instanceof ApiException ? (err as ApiException<unknown>).code : undefined;
}

export const isNotFound = (err: unknown) => statusCode(err) === 404;
export const isConflict = (err: unknown) => statusCode(err) === 409;

/** The object `read` returns, or undefined when the apiserver says there is none (404). */
export async function readIfExists<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Server-side apply of an object the operator owns (fields it sets are its own). */
export async function apply<T extends KubernetesObject>(objects: KubernetesObjectApi, obj: T): Promise<T> {
  return objects.patch(obj, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
}

export interface CustomRef {
  group: string;
  version: string;
  plural: string;
}

/** A JSON merge patch of a custom object's status subresource. */
export async function patchStatus(
  custom: CustomObjectsApi,
  ref: CustomRef,
  namespace: string,
  name: string,
  status: object,
): Promise<void> {
  await custom.patchNamespacedCustomObjectStatus(
    { ...ref, namespace, name, body: { status } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

/** A JSON merge patch of a custom object's metadata (finalizers). */
export async function patchObject(
  custom: CustomObjectsApi,
  ref: CustomRef,
  namespace: string,
  name: string,
  body: object,
): Promise<void> {
  await custom.patchNamespacedCustomObject(
    { ...ref, namespace, name, body },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}
