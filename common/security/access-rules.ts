// Who may do what: access rules (from AccessPolicy and HeraldUser resources) compiled into one
// immutable snapshot that answers "may this subject do this operation on these resources?".
// Pure: the watch that builds snapshots and the interceptor that asks them live elsewhere.
//
// Deny by default: a subject with no rule may do nothing, and a request is allowed only when
// ONE rule covers its operation and every resource it touches (a consume needs its topic and
// its group in the same rule, as a Kafka consumer needs Read on both).

/** publish: Publish, PublishStream. consume: Pull, Subscribe, Ack, Nack, group membership, and
 * Admin Peek (on the topic alone: it reads bodies, for no group).
 * admin: Trace, GetLag, dead letters (list, replay, purge), ResetOffsets. */
export const OPERATIONS = ['publish', 'consume', 'admin'] as const;
export type Operation = (typeof OPERATIONS)[number];

/** A topic or group name, or every one of them (a request without a topic filter). */
export const ALL = '*';

/** One resource a request touches. */
export interface Resource {
  kind: 'topic' | 'group';
  /** A name, or ALL. */
  name: string;
}

export interface AccessRequest {
  operation: Operation;
  resources: Resource[];
}

/** Exactly one of name and prefix; prefix '' covers every name (and ALL). */
export interface NamePattern {
  name?: string;
  prefix?: string;
}

export interface AccessRule {
  operations: Operation[];
  topics?: NamePattern[];
  groups?: NamePattern[];
}

/** A set of subjects and the rules they are granted (an AccessPolicy, or a HeraldUser's own). */
export interface Grant {
  subjects: string[];
  rules: AccessRule[];
}

/** The identity of a Kubernetes ServiceAccount, as the TokenReview API names it. */
export const serviceAccountSubject = (namespace: string, name: string) =>
  `system:serviceaccount:${namespace}:${name}`;

/** The identity of a HeraldUser, also the CN of its client certificates. */
export const heraldUserSubject = (namespace: string, name: string) => `herald:user:${namespace}:${name}`;

/** How a resource is named in refusals and traces: "topic/orders", "group/*". */
export const resourceLabel = (r: Resource) => `${r.kind}/${r.name}`;

export function patternMatches(pattern: NamePattern, name: string): boolean {
  if (pattern.prefix !== undefined)
    return pattern.prefix === '' || (name !== ALL && name.startsWith(pattern.prefix));
  return name !== ALL && pattern.name === name;
}

function ruleCovers(rule: AccessRule, request: AccessRequest): boolean {
  if (!rule.operations.includes(request.operation)) return false;
  return request.resources.every((r) =>
    (r.kind === 'topic' ? rule.topics : rule.groups)?.some((p) => patternMatches(p, r.name)),
  );
}

export class AccessRules {
  private readonly bySubject = new Map<string, AccessRule[]>();

  constructor(grants: Grant[]) {
    for (const grant of grants) {
      for (const subject of grant.subjects) {
        const rules = this.bySubject.get(subject) ?? [];
        rules.push(...grant.rules);
        this.bySubject.set(subject, rules);
      }
    }
  }

  allows(subject: string, request: AccessRequest): boolean {
    return (this.bySubject.get(subject) ?? []).some((rule) => ruleCovers(rule, request));
  }
}
