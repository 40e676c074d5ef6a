// The access rules and HeraldUser credentials a server enforces, kept current by watching
// AccessPolicy and HeraldUser resources (list + watch with relists, common/kube/reflector.ts),
// never read per call. Every change builds a new immutable snapshot and tells the listeners,
// so running streams are checked again within the watch's latency.
import { KubernetesObjectApi } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { AccessPolicyResource, HeraldUserResource } from '../gen/crds';
import type { AccessPolicy, HeraldUser } from '../gen/crds';
import type { Logger } from '../logger';
import { Reflector } from '../kube/reflector';
import { AccessRules, heraldUserSubject, serviceAccountSubject } from './access-rules';
import type { AccessRule, Grant } from './access-rules';

/** What the authenticator and the authorizer read; replaced whole on every change. */
export interface AccessSnapshot {
  rules: AccessRules;
  /** HeraldUser subject by the hash of its current token. */
  userByTokenHash: ReadonlyMap<string, string>;
  /** Subjects of HeraldUsers that authenticate with a client certificate. */
  tlsUsers: ReadonlySet<string>;
}

export interface AccessSource {
  current(): AccessSnapshot;
  /** Called after every change of the snapshot. */
  onChange(listener: () => void): void;
}

type Spec = AccessPolicy['spec'] | HeraldUser['spec'];

const rulesOf = (spec: Spec): AccessRule[] =>
  (spec.rules ?? []).map((r) => ({ operations: r.operations, topics: r.topics, groups: r.groups }));

/** The snapshot of a set of policies and users: a pure function of the objects. */
export function snapshotOf(policies: AccessPolicy[], users: HeraldUser[]): AccessSnapshot {
  const grants: Grant[] = [];
  const userByTokenHash = new Map<string, string>();
  const tlsUsers = new Set<string>();
  for (const user of users) {
    const ns = user.metadata?.namespace ?? '';
    const subject = heraldUserSubject(ns, user.metadata?.name ?? '');
    grants.push({ subjects: [subject], rules: rulesOf(user.spec) });
    if (user.spec.authentication.type === 'tls') tlsUsers.add(subject);
    else if (user.status?.tokenHash) userByTokenHash.set(user.status.tokenHash, subject);
  }
  for (const policy of policies) {
    const ns = policy.metadata?.namespace ?? '';
    const subjects = policy.spec.subjects.map((s) =>
      s.kind === 'ServiceAccount'
        ? serviceAccountSubject(s.namespace ?? ns, s.name)
        : heraldUserSubject(s.namespace ?? ns, s.name),
    );
    grants.push({ subjects, rules: rulesOf(policy.spec) });
  }
  return { rules: new AccessRules(grants), userByTokenHash, tlsUsers };
}

export interface AccessWatchOptions {
  kc: KubeConfig;
  logger: Logger;
  relistMs: number;
  watchdogMs: number;
}

/** An AccessSource fed by watches of every namespace's AccessPolicies and HeraldUsers. */
export class AccessWatch implements AccessSource {
  private snapshot: AccessSnapshot = snapshotOf([], []);
  private readonly listeners: (() => void)[] = [];
  private readonly policies: Reflector<AccessPolicy>;
  private readonly users: Reflector<HeraldUser>;

  constructor(options: AccessWatchOptions) {
    const objects = KubernetesObjectApi.makeApiClient(options.kc);
    const reflector = <T extends AccessPolicy | HeraldUser>(
      r: typeof AccessPolicyResource | typeof HeraldUserResource,
    ) =>
      new Reflector<T>({
        kc: options.kc,
        objects,
        type: { apiVersion: `${r.group}/${r.version}`, kind: r.kind, plural: r.plural },
        relistMs: options.relistMs,
        watchdogMs: options.watchdogMs,
        logger: options.logger.namespace(`watch.${r.kind}`),
        onChange: () => this.rebuild(),
      });
    this.policies = reflector<AccessPolicy>(AccessPolicyResource);
    this.users = reflector<HeraldUser>(HeraldUserResource);
  }

  /** Starts both watches and resolves once both have listed. */
  async start(timeoutMs: number): Promise<void> {
    this.policies.start();
    this.users.start();
    const deadline = Date.now() + timeoutMs;
    while (!(this.policies.hasSynced && this.users.hasSynced)) {
      if (Date.now() > deadline)
        throw new Error('access rules: AccessPolicies and HeraldUsers could not be listed');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    await Promise.all([this.policies.stop(), this.users.stop()]);
  }

  current(): AccessSnapshot {
    return this.snapshot;
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  private rebuild(): void {
    this.snapshot = snapshotOf(this.policies.list(), this.users.list());
    for (const listener of this.listeners) listener();
  }
}
