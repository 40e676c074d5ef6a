// The operator's edge to the apiserver: loading a kubeconfig (a file for local runs, the
// service account in a cluster), server-side apply for owned objects, merge patches for
// status, and classifying API errors by HTTP status (never by message text).
import { ApiException, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { CustomObjectsApi, KubernetesObject, KubernetesObjectApi } from '@kubernetes/client-node';

export const FIELD_MANAGER = 'herald-operator';

/** A kubeconfig from a file, else the in-cluster service account, else the default locations. */
export function loadKubeConfig(file?: string): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

export function statusCode(err: unknown): number | undefined {
  return err instanceof ApiException ? (err as ApiException<unknown>).code : undefined;
}

export const isNotFound = (err: unknown) => statusCode(err) === 404;
export const isConflict = (err: unknown) => statusCode(err) === 409;

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
