// Loading a kubeconfig, for the operator and for brokers (which watch access rules and review
// tokens): a file for local runs, the service account in a cluster.
//
// @kubernetes/client-node (1.x) builds a new https.Agent for every API call and every watch, so
// each request opened its own TCP connection with a full TLS handshake (a profile of the operator
// provisioning 100 Topics spent about 40 % of its busy time building TLS contexts and
// handshaking). The KubeConfig returned here hands every request one keep-alive agent per set of
// TLS settings instead, so connections to the apiserver are reused.
import { Agent } from 'node:https';
import type { AgentOptions } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import type { RequestContext } from '@kubernetes/client-node';

/** The TLS settings of an agent the client library built: what a shared agent must match. */
const TLS_FIELDS = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const;

function settingsKey(options: AgentOptions): string {
  return JSON.stringify(
    TLS_FIELDS.map((f) => {
      const v = options[f] as unknown;
      return Buffer.isBuffer(v) ? v.toString('base64') : v;
    }),
  );
}

class KeepAliveKubeConfig extends KubeConfig {
  // One agent, for the TLS settings of the latest request: when the credentials files change
  // (a rotated client certificate), the next request gets a new agent and the old one is left to
  // its open requests.
  private shared: { key: string; agent: Agent } | undefined;

  /** The shared keep-alive agent in place of a plain https.Agent the library just built. */
  reuse<T>(agent: T): T | Agent {
    // Proxy and plain-HTTP agents are left as the library built them.
    if (!(agent instanceof Agent)) return agent;
    const built: Agent = agent;
    if (built.constructor !== Agent) return agent;
    const key = settingsKey(built.options);
    if (this.shared?.key !== key) {
      this.shared = { key, agent: new Agent({ ...built.options, keepAlive: true }) };
    }
    return this.shared.agent;
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const agent = context.getAgent();
    if (agent !== undefined) context.setAgent(this.reuse(agent));
  }

  override async applyToFetchOptions(
    opts: Parameters<KubeConfig['applyToFetchOptions']>[0],
  ): ReturnType<KubeConfig['applyToFetchOptions']> {
    const init = await super.applyToFetchOptions(opts);
    return { ...init, agent: this.reuse(init.agent) };
  }
}

/** A kubeconfig from a file, else the in-cluster service account, else the default locations. */
export function loadKubeConfig(file?: string): KubeConfig {
  const kc = new KeepAliveKubeConfig();
  if (file) kc.loadFromFile(file);
  else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}
