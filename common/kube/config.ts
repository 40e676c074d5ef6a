// Loading a kubeconfig, for the operator and for brokers (which watch access rules and review
// tokens): a file for local runs, the service account in a cluster.
import { KubeConfig } from '@kubernetes/client-node';

/** A kubeconfig from a file, else the in-cluster service account, else the default locations. */
export function loadKubeConfig(file?: string): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}
