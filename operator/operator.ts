// The operator process: it campaigns for leadership on a coordination.k8s.io Lease and serves
// herald.v1.Meta on every replica (followers redirect). The leader watches Herald's objects,
// restores the meta-server's leases from the last checkpoint, waits one lease period before
// granting anything new, and runs the BrokerPool, Topic and ConsumerGroup controllers.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Counter, register } from 'prom-client';
import { metricOf } from '../common/metric-of';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubernetesObjectApi } from '@kubernetes/client-node';
import type {
  KubeConfig,
  KubernetesObject,
  V1ConfigMap,
  V1PodDisruptionBudget,
  V1Secret,
  V1Service,
  V1StatefulSet,
} from '@kubernetes/client-node';
import type { Logger } from '../common/logger';
import { check, field, hostPort, int, nonEmpty, resolve } from '../common/options';
import type { Table } from '../common/options';
import { reconcileBrokerPool } from './controllers/broker-pool';
import { MANAGED_BY } from './controllers/broker-pool-objects';
import { reconcileConsumerGroup } from './controllers/consumer-group';
import { pushSecretKeys, pushSecretsIn, usablePushSecrets } from './controllers/group-push';
import { reconcileHeraldUser, userOfSecret } from './controllers/herald-user';
import { reconcileAccessPolicy } from './controllers/access-policy';
import { CaKeeper } from './ca/ca-secret';
import { META_CERTIFICATE_SECONDS, MetaCertificate, metaCertificateFiles } from './ca/meta-certificate';
import { OptionsError } from '../common/options';
import {
  securityMetrics,
  metricsTlsOf,
  resolveSecurity,
  startServerSecurity,
} from '../common/security/server-security';
import type {
  ServerSecurity,
  ServerSecurityInput,
  ServerSecurityOptions,
} from '../common/security/server-security';
import { META_ACCESS_BY_PATH, META_SERVER_METHODS } from './meta/access-table';
import { AccessPolicyResource, HeraldUserResource } from '../common/gen/crds';
import type { AccessPolicy, HeraldUser } from '../common/gen/crds';
import type { ControllerContext } from './controllers/context';
import { Controller } from './controllers/controller';
import { EventRecorder } from './controllers/events';
import { poolMysqlUrl } from './controllers/storage-url';
import { reconcileTopic } from './controllers/topic';
import type { BrokerPool, ConsumerGroup, Topic } from './gen/crds';
import { BrokerPoolResource, ConsumerGroupResource, TopicResource } from './gen/crds';
import { isNotFound, patchStatus } from './kube/client';
import { loadKubeConfig } from '../common/kube/config';
import type { ResourceType } from '../common/kube/reflector';
import { LeaderElector, leaderElectionTiming } from './kube/leader-election';
import { Reflector } from '../common/kube/reflector';
import { PodZones } from './kube/zones';
import { Checkpointer } from './meta/checkpointer';
import {
  groupCheckpointOf,
  groupInfoOf,
  poolInfoOf,
  restorableTopic,
  topicCheckpointOf,
  topicInfoOf,
} from './meta/from-crds';
import { MetaCore } from './meta/meta-core';
import { GovernanceMetrics } from './metrics';
import type { MetaServer, MetaState } from './meta/server';
import { startMetaServer } from './meta/server';
import { startMetricsServer } from '../common/metrics-http';
import type { MetricsServer } from '../common/metrics-http';
import { openKafkaTopics } from './storage/kafka-topics';
import { AdminProxy } from './console/admin-proxy';
import { DEFAULT_CONSOLE_DIR, startConsole } from './console/server';
import { SeriesStore } from './console/series';
import type { HttpServer } from '../common/http/server';
import type { KafkaTopicStorage } from './storage/kafka-topics';
import { Connections, openMysqlTopicStorage } from './storage/topic-storage';
import type { TopicStorage } from './storage/topic-storage';

export interface OperatorOptions {
  /** A kubeconfig file; in a cluster, leave unset to use the service account. */
  kubeconfig?: string;
  /** Watch one namespace only (tests, single-tenant installs); all namespaces when unset. */
  watchNamespace?: string;
  /** Where the leader-election Lease lives. */
  leaseNamespace: string;
  leaseName: string;
  /** Unique per replica. */
  identity: string;
  /** host:port the meta-server listens on; port 0 picks one. */
  metaListen: string;
  /**
   * host:port of the Prometheus /metrics endpoint (the meta-server's per-RPC metrics and the
   * process's); port 0 picks one.
   */
  metricsListen: string;
  /**
   * host:port of the console (docs/console.md): its page and JSON API; off when unset. Needs
   * security.authentication (and so TLS): callers sign in with a token.
   */
  consoleListen?: string;
  /** The console's built files (`npm run build`). */
  consoleDir: string;
  /** The address brokers and other replicas use for this replica; the bound address when unset. */
  metaAdvertise?: string;
  /** The meta address written into broker ConfigMaps (the meta Service in a cluster). */
  brokerMetaAddress?: string;
  /** The Secret, in the lease namespace, that keeps the operator's CA (created when missing). */
  caSecretName: string;
  /**
   * The meta-server's TLS, authentication and authorization (common/security/server-security.ts);
   * with `metaCertificate`, its TLS files are the ones the operator issues itself.
   */
  security: ServerSecurityOptions;
  /** Set: the meta-server's certificate is issued from the operator's CA into `dir` (renewed). */
  metaCertificate?: { dir: string; dnsNames: string[]; ipAddresses: string[]; lifetimeSeconds?: number };
  leaderElection: { leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number };
  relistMs: number;
  watchdogMs: number;
  lagIntervalMs: number;
  assignmentPollMs: number;
  tickMs: number;
  logger: Logger;
  /** Called when this replica loses leadership without being stopped (main exits then). */
  onLostLeadership?: () => void;
}

type Tabled = Pick<
  OperatorOptions,
  | 'leaseNamespace'
  | 'leaseName'
  | 'caSecretName'
  | 'metaListen'
  | 'metricsListen'
  | 'consoleDir'
  | 'relistMs'
  | 'watchdogMs'
  | 'lagIntervalMs'
  | 'assignmentPollMs'
  | 'tickMs'
>;

/** The operator's options: default and rule of each, written once. */
const OPERATOR: Table<Tabled> = {
  leaseNamespace: field('default', nonEmpty),
  leaseName: field('herald-operator', nonEmpty),
  caSecretName: field('herald-ca', nonEmpty),
  metaListen: field('0.0.0.0:7700', hostPort),
  metricsListen: field('127.0.0.1:9601', hostPort),
  consoleDir: field(DEFAULT_CONSOLE_DIR, nonEmpty),
  relistMs: field(5 * 60_000, int(1)),
  watchdogMs: field(90_000, int(1)),
  lagIntervalMs: field(30_000, int(1)),
  assignmentPollMs: field(2_000, int(1)),
  tickMs: field(1_000, int(1)),
};

const META_CERTIFICATE: Table<{ lifetimeSeconds: number }> = {
  // Renewed at two thirds, then picked up within the listener's refreshMs: keep it well above that.
  lifetimeSeconds: field(META_CERTIFICATE_SECONDS, int(10)),
};

export type OperatorInput = Partial<Omit<OperatorOptions, 'logger' | 'leaderElection' | 'security'>> &
  Pick<OperatorOptions, 'logger'> & {
    leaderElection?: Partial<OperatorOptions['leaderElection']>;
    security?: ServerSecurityInput;
  };

export function resolveOperatorOptions(input: OperatorInput): OperatorOptions {
  const issued = input.metaCertificate ? metaCertificateFiles(input.metaCertificate.dir) : undefined;
  if (issued && input.security?.tls?.certFile)
    throw new OptionsError('security.tls', 'give certificate files or metaCertificate, not both');
  const security = resolveSecurity('security', {
    kubeconfig: input.kubeconfig,
    ...input.security,
    ...(issued ? { tls: { ...input.security?.tls, ...issued } } : {}),
  });
  if (input.consoleListen !== undefined) {
    check('consoleListen', input.consoleListen, hostPort);
    if (!security.authentication)
      throw new OptionsError(
        'consoleListen',
        'the console needs security.authentication (callers sign in with a token)',
      );
  }
  const m = input.metaCertificate;
  return {
    ...input,
    ...resolve('', OPERATOR, input),
    ...(m ? { metaCertificate: { ...m, ...resolve('metaCertificate', META_CERTIFICATE, m) } } : {}),
    security,
    identity: input.identity || `${hostname()}_${randomUUID()}`,
    leaderElection: leaderElectionTiming('leaderElection', input.leaderElection),
  };
}

interface Leading {
  ctx: ControllerContext;
  controllers: Controller[];
  reflectors: Reflector<KubernetesObject>[];
  storages: Connections<TopicStorage>;
  kafkas: Connections<KafkaTopicStorage>;
  tick: NodeJS.Timeout;
}

export class Operator {
  private state: MetaState | undefined;
  private leading: Leading | undefined;
  private transition: Promise<void> = Promise.resolve();
  private stopping = false;

  private constructor(
    readonly options: OperatorOptions,
    private readonly kc: KubeConfig,
    private readonly server: MetaServer,
    private readonly metrics: MetricsServer,
    private readonly elector: LeaderElector,
    private readonly security: ServerSecurity,
    private readonly metaCertificate: MetaCertificate | undefined,
    private readonly ca: CaKeeper,
    private readonly governance: GovernanceMetrics,
    private readonly console: { server: HttpServer; proxy: AdminProxy } | undefined,
  ) {}

  static async start(input: OperatorInput): Promise<Operator> {
    const options = resolveOperatorOptions(input);
    const kc = loadKubeConfig(options.kubeconfig);
    // The server and the elector call back into the operator, which needs them to exist first.
    const self: { operator?: Operator } = {};
    const zones = new PodZones(kc.makeApiClient(CoreV1Api), options.logger.namespace('zones'));
    // One keeper per process: the meta certificate's and the controllers' CA.
    const ca = new CaKeeper(kc.makeApiClient(CoreV1Api), {
      namespace: options.leaseNamespace,
      name: options.caSecretName,
    });
    const m = options.metaCertificate;
    const metaCertificate = m
      ? await MetaCertificate.start({
          ...m,
          ca: () => ca.get(),
          namespace: options.leaseNamespace,
          logger: options.logger.namespace('certificate'),
        })
      : undefined;
    const security = await startServerSecurity(
      options.security,
      META_ACCESS_BY_PATH,
      options.logger.namespace('security'),
      META_SERVER_METHODS,
    );
    // The process's registry, served on /metrics below.
    securityMetrics(security, register);
    const server = await startMetaServer({
      listen: options.metaListen,
      logger: options.logger.namespace('meta'),
      state: () => self.operator?.state,
      leader: () => self.operator?.elector.currentLeader(),
      isLeader: () => self.operator?.elector.isLeader ?? false,
      brokerZone: (namespace, brokerId) => zones.zoneOfPod(namespace, brokerId),
      registry: register,
      security,
    });
    let metrics: MetricsServer | undefined;
    let console: { server: HttpServer; proxy: AdminProxy } | undefined;
    try {
      metrics = await startMetricsServer(
        options.metricsListen,
        register,
        options.logger.namespace('metrics'),
        undefined,
        metricsTlsOf(options.security),
      );
      if (options.consoleListen !== undefined && security.checks) {
        const proxy = new AdminProxy(options.security.tls?.caFile);
        try {
          const consoleServer = await startConsole({
            listen: options.consoleListen,
            tls: options.security.tls,
            dir: options.consoleDir,
            api: {
              custom: kc.makeApiClient(CustomObjectsApi),
              objects: KubernetesObjectApi.makeApiClient(kc),
              zones,
              ...security.checks,
              proxy,
              series: new SeriesStore(),
              watchNamespace: options.watchNamespace,
              logger: options.logger.namespace('console'),
            },
          });
          console = { server: consoleServer, proxy };
        } catch (err) {
          proxy.close();
          throw err;
        }
      }
    } catch (err) {
      await metrics?.close();
      await server.close();
      metaCertificate?.stop();
      await security.stop();
      throw err;
    }
    const elector = new LeaderElector(
      {
        api: kc.makeApiClient(CoordinationV1Api),
        namespace: options.leaseNamespace,
        name: options.leaseName,
        identity: options.identity,
        address: options.metaAdvertise ?? server.address,
        ...options.leaderElection,
        logger: options.logger.namespace('election'),
      },
      {
        onStartedLeading: () => void self.operator?.queue(() => self.operator?.lead()),
        onStoppedLeading: () =>
          void self.operator?.queue(async () => {
            await self.operator?.follow();
            if (!self.operator?.stopping) self.operator?.options.onLostLeadership?.();
          }),
      },
    );
    const operator = new Operator(
      options,
      kc,
      server,
      metrics,
      elector,
      security,
      metaCertificate,
      ca,
      new GovernanceMetrics(register),
      console,
    );
    self.operator = operator;
    elector.start();
    return operator;
  }

  get metaAddress(): string {
    return this.options.metaAdvertise ?? this.server.address;
  }

  /** host:port the /metrics endpoint is bound to. */
  get metricsAddress(): string {
    return this.metrics.address;
  }

  /** host:port the console is bound to, if it runs. */
  get consoleAddress(): string | undefined {
    return this.console?.server.address;
  }

  get isLeader(): boolean {
    return this.elector.isLeader;
  }

  /** Whether this replica is the leader and serves Meta (restored and running). */
  get serving(): boolean {
    return this.state !== undefined;
  }

  /** Checkpoint writes this replica made while leading, for measurements. */
  get checkpointWrites(): number {
    return this.state?.checkpointer.writes ?? 0;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.elector.stop();
    await this.queue(() => this.follow());
    await this.server.close();
    await this.metrics.close();
    await this.console?.server.close(1000);
    this.console?.proxy.close();
    this.metaCertificate?.stop();
    await this.security.stop();
  }

  private queue(step: () => Promise<void> | undefined): Promise<void> {
    this.transition = this.transition
      .then(step)
      .catch((err: unknown) => this.options.logger.error('leadership transition failed', { err }));
    return this.transition;
  }

  private async lead(): Promise<void> {
    const o = this.options;
    const log = o.logger;
    const custom = this.kc.makeApiClient(CustomObjectsApi);
    const core = this.kc.makeApiClient(CoreV1Api);
    const objects = KubernetesObjectApi.makeApiClient(this.kc);
    const meta = new MetaCore();
    const storages = new Connections((url) => openMysqlTopicStorage(url, log.namespace('storage')));
    const kafkas = new Connections((servers) => openKafkaTopics(servers.split(','), log.namespace('kafka')));
    const controllers: Controller[] = [];
    const byKind = new Map<string, Controller>();
    const enqueue = (kind: string, key: string) => byKind.get(kind)?.enqueue(key);
    const enqueuePoolOf = (obj: KubernetesObject | undefined) => {
      const owner = obj?.metadata?.ownerReferences?.find((r) => r.kind === 'BrokerPool');
      if (owner && obj?.metadata?.namespace) enqueue('BrokerPool', `${obj.metadata.namespace}/${owner.name}`);
    };
    const lists = metricOf(
      register,
      'herald_operator_list_requests_total',
      () =>
        new Counter({
          name: 'herald_operator_list_requests_total',
          help: "The leader's list requests to the apiserver by kind (its caches' relists; everything else they get from watches)",
          labelNames: ['kind'],
          registers: [register],
        }),
    );
    const reflector = <T extends KubernetesObject>(
      type: ResourceType,
      onChange: (key: string, obj: KubernetesObject | undefined) => void,
      labelSelector?: string,
    ) =>
      new Reflector<T>({
        onList: () => lists.inc({ kind: type.kind }),
        kc: this.kc,
        objects,
        type,
        namespace: o.watchNamespace,
        labelSelector,
        relistMs: o.relistMs,
        watchdogMs: o.watchdogMs,
        logger: log.namespace(`watch.${type.kind}`),
        onChange,
      });
    const crd = (r: { group: string; version: string; plural: string; kind: string }): ResourceType => ({
      apiVersion: `${r.group}/${r.version}`,
      kind: r.kind,
      plural: r.plural,
    });
    const managed = Object.entries(MANAGED_BY)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const topicsByPool = (poolKey: string) =>
      caches.topics.list().filter((t) => `${t.metadata?.namespace}/${t.spec.pool}` === poolKey);
    const groupsOfTopic = (topicKey: string) =>
      caches.groups.list().filter((g) => `${g.metadata?.namespace}/${g.spec.topic}` === topicKey);
    const caches: ControllerContext['caches'] = {
      pools: reflector<BrokerPool>(crd(BrokerPoolResource), (key) => {
        enqueue('BrokerPool', key);
        for (const t of topicsByPool(key)) enqueue('Topic', `${t.metadata?.namespace}/${t.metadata?.name}`);
      }),
      topics: reflector<Topic>(crd(TopicResource), (key, obj) => {
        enqueue('Topic', key);
        const topic = obj as Topic | undefined;
        if (topic) enqueue('BrokerPool', `${topic.metadata?.namespace}/${topic.spec.pool}`);
        for (const g of groupsOfTopic(key))
          enqueue('ConsumerGroup', `${g.metadata?.namespace}/${g.metadata?.name}`);
      }),
      groups: reflector<ConsumerGroup>(crd(ConsumerGroupResource), (key) => enqueue('ConsumerGroup', key)),
      statefulSets: reflector<V1StatefulSet>(
        { apiVersion: 'apps/v1', kind: 'StatefulSet', plural: 'statefulsets' },
        (_k, obj) => enqueuePoolOf(obj),
        managed,
      ),
      services: reflector<V1Service>(
        { apiVersion: 'v1', kind: 'Service', plural: 'services' },
        (_k, obj) => enqueuePoolOf(obj),
        managed,
      ),
      pdbs: reflector<V1PodDisruptionBudget>(
        { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', plural: 'poddisruptionbudgets' },
        (_k, obj) => enqueuePoolOf(obj),
        managed,
      ),
      configMaps: reflector<V1ConfigMap>(
        { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps' },
        (_k, obj) => enqueuePoolOf(obj),
        managed,
      ),
      users: reflector<HeraldUser>(crd(HeraldUserResource), (key) => enqueue('HeraldUser', key)),
      policies: reflector<AccessPolicy>(crd(AccessPolicyResource), (key) => enqueue('AccessPolicy', key)),
      userSecrets: reflector<V1Secret>(
        { apiVersion: 'v1', kind: 'Secret', plural: 'secrets' },
        // By name, since a deleted Secret (a rotation) arrives without its object.
        (key) => {
          const user = userOfSecret(key);
          if (user) enqueue('HeraldUser', user);
        },
        'herald.dev/user',
      ),
      // A push group's key and CA are read here, not fetched: a change (a rotation) reconciles
      // the groups that name the Secret.
      secrets: reflector<V1Secret>({ apiVersion: 'v1', kind: 'Secret', plural: 'secrets' }, (key) => {
        for (const g of caches.groups.list())
          if (pushSecretKeys(g).includes(key))
            enqueue('ConsumerGroup', `${g.metadata?.namespace}/${g.metadata?.name}`);
      }),
    };
    const ctx: ControllerContext = {
      core,
      custom,
      objects,
      events: new EventRecorder(core, log.namespace('events')),
      logger: log,
      meta,
      metrics: this.governance,
      storage: async (pool) => storages.get(await poolMysqlUrl(core, pool)),
      kafka: (pool) => kafkas.get((pool.spec.storage.kafka?.bootstrapServers ?? []).join(',')),
      caches,
      ca: this.ca,
      options: {
        metaAddress: o.brokerMetaAddress ?? this.metaAddress,
        metaPlaintext: o.security.tls === undefined,
        lagIntervalMs: o.lagIntervalMs,
        assignmentPollMs: o.assignmentPollMs,
      },
    };
    const add = (
      kind: string,
      reconcile: (ctx: ControllerContext, key: string) => ReturnType<typeof reconcileTopic>,
    ) => {
      const c = new Controller(kind, (key) => reconcile(ctx, key), log.namespace(`controller.${kind}`));
      controllers.push(c);
      byKind.set(kind, c);
    };
    add('BrokerPool', reconcileBrokerPool);
    add('Topic', reconcileTopic);
    add('ConsumerGroup', reconcileConsumerGroup);
    add('HeraldUser', reconcileHeraldUser);
    add('AccessPolicy', reconcileAccessPolicy);

    const reflectors = Object.values(caches) as Reflector<KubernetesObject>[];
    for (const r of reflectors) r.start();
    while (!reflectors.every((r) => r.hasSynced)) await new Promise((resolve) => setTimeout(resolve, 50));

    // Restore the last checkpoint, then wait one lease period before granting anything new.
    const now = Date.now();
    // The same mapping as the controllers' (meta/from-crds.ts), so the restored view carries every
    // feature even for objects no controller reconciles soon (paused ones, for instance).
    for (const pool of caches.pools.list()) {
      try {
        meta.setPool(pool.metadata?.namespace ?? '', pool.metadata?.name ?? '', poolInfoOf(pool));
      } catch (err) {
        log.warn('pool lease durations refused; using the defaults', { pool: pool.metadata?.name, err });
      }
    }
    for (const t of caches.topics.list()) {
      if (restorableTopic(t)) meta.restoreTopic(topicInfoOf(t), topicCheckpointOf(t), now);
    }
    for (const g of caches.groups.list()) {
      const { entries, consumers } = groupCheckpointOf(g);
      // With its Secrets from the cache, so a push group pushes before its first reconcile.
      const secrets = g.spec.push ? usablePushSecrets(pushSecretsIn(caches.secrets, g)) : undefined;
      meta.restoreGroup(groupInfoOf(g, secrets), entries, consumers, now);
    }
    meta.blockGrantsUntil(now + meta.longestLeaseMs());
    log.info('restored the checkpoint; granting new leases after one lease period', {
      waitMs: meta.longestLeaseMs(),
    });

    const checkpointer = new Checkpointer(
      meta,
      {
        writeTopic: (ns, name, status) =>
          ignoreNotFound(patchStatus(custom, TopicResource, ns, name, status)),
        writeGroup: (ns, name, status) =>
          ignoreNotFound(patchStatus(custom, ConsumerGroupResource, ns, name, status)),
      },
      log.namespace('checkpoint'),
    );
    const tick = setInterval(() => {
      const now = Date.now();
      meta.tick(now);
      this.governance.update(meta, caches.groups.list(), now);
      checkpointer.flush().catch((err: unknown) => log.debug('checkpoint flush failed', { err }));
    }, o.tickMs);
    this.state = { core: meta, checkpointer };
    this.leading = { ctx, controllers, reflectors, storages, kafkas, tick };
    for (const c of controllers) c.start();
    this.server.setServing(true);
  }

  private async follow(): Promise<void> {
    this.server.setServing(false);
    this.state = undefined;
    this.governance.clear();
    const leading = this.leading;
    this.leading = undefined;
    if (!leading) return;
    clearInterval(leading.tick);
    await Promise.all(leading.reflectors.map((r) => r.stop()));
    await Promise.all(leading.controllers.map((c) => c.stop()));
    await leading.storages.closeAll();
    await leading.kafkas.closeAll();
  }
}

async function ignoreNotFound(p: Promise<void>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}
