import { join } from 'node:path';
import type { Logger } from 'pino';
import { createApi } from './api/methods.js';
import { backupOperation } from './backup/backup-operation.js';
import type { BackupGateDeps } from './api/backup-gate.js';
import { tierPlaces, tierTargetsOf } from './backup/placement.js';
import { ChainRecordStore } from './backup/snapshot/chain-record.js';
import { ThawGuard } from './backup/thaw-guard.js';
import { callAgentOverBus, type CallAgent } from './bus/agent-call.js';
import { BusConnection, isDurable, Notifier, RpcServer, type BusOptions } from './bus/index.js';
import type { AgentConfig } from './config.js';
import { failbackOperation } from './failover/failback-operation.js';
import { failoverOperation } from './failover/failover-operation.js';
import { parseFailoverRecord } from './failover/failover-record.js';
import { askHomeOverBus } from './failover/home-check.js';
import type { HostMapping } from './failover/host-mapping.js';
import { allEvents } from './jobs/job-events.js';
import { JobRunner } from './jobs/job-runner.js';
import { JobJournal } from './jobs/journal.js';
import { LibvirtHypervisor } from './libvirt/libvirt-hypervisor.js';
import { redactUrl } from './log.js';
import { AgentMetrics } from './metrics/agent-metrics.js';
import { MetricsServer } from './metrics/metrics-server.js';
import { jobNotifications, rejectionNotifier, replicationNotifications } from './notifications.js';
import { deleteOperation, type PointPlace } from './points/delete-operation.js';
import { placeOwnedBy } from './points/owned-place.js';
import { verifyOperation } from './points/verify-operation.js';
import { DomainPolicies } from './policy/domain-policies.js';
import { Policies, type PolicySetup } from './policy/policies.js';
import { PolicyStore } from './policy/policy-store.js';
import { parseReplicaRecord } from './replication/replica-record.js';
import { replicateAfterBackup, Replicator } from './replication/replicator.js';
import { openTargets } from './repo/open-targets.js';
import { targetLocation, type TargetSpec } from './repo/target-config.js';
import type { RepositoryTarget } from './repo/target.js';
import { PendingInstantStore } from './restore/pending-instant.js';
import { restoreOperation } from './restore/restore-operation.js';
import { resumeInstantRestores } from './restore/resume-at-start.js';
import { hostScheduler } from './scheduler/host-scheduler.js';
import { pointHolder } from './tiers/point-holder.js';
import { targetsOfTiers } from './tiers/tier-view.js';
import { pruneOperation } from './tiers/prune-operation.js';
import { sweepPolicies } from './tiers/prune-sweep.js';
import { pruneAfterBackup, type PruneTriggerDeps } from './tiers/prune-trigger.js';
import { ensureDirectory } from './util/atomic-file.js';
import { DomainRecordStore } from './util/domain-records.js';
import { KeyedLock } from './util/keyed-lock.js';
import { VERSION } from './version.js';

/** The agent's lifecycle, as a union: stop() is only meaningful from `running`. */
export type AgentState = 'created' | 'starting' | 'running' | 'stopping' | 'stopped';

/**
 * Wires the layers together and owns their lifecycle. This is the only place that reads
 * the whole configuration; each part receives its own typed slice.
 *
 * Start order matters: the notifier comes up before job recovery (which reports the jobs
 * a crash interrupted), and the RPC server consumes only once recovery is done, so no new
 * request races a repair.
 */
export class Agent {
  private state: AgentState = 'created';
  private readonly stack: { name: string; stop: () => Promise<void> | void }[] = [];

  constructor(
    private readonly config: AgentConfig,
    /** The configuration's parts that needed more than convict's checks, parsed once. */
    private readonly parts: { targets: readonly TargetSpec[]; mapping: HostMapping; policy: PolicySetup },
    private readonly log: Logger,
  ) {}

  get status(): AgentState {
    return this.state;
  }

  async start(): Promise<void> {
    this.state = 'starting';
    const { config, log } = this;
    log.info(
      {
        version: VERSION,
        host: config.host,
        roles: config.roles,
        bus: redactUrl(config.bus.url),
        libvirt: config.libvirt.uri,
        targets: this.parts.targets.map((t) => ({ name: t.name, location: targetLocation(t) })),
      },
      'starting',
    );
    await ensureDirectory(config.state.path);

    const hypervisor = await LibvirtHypervisor.connect(config.libvirt.uri, {
      reconnectTimeoutMs: config.libvirt.reconnect_timeout_s * 1000,
    });
    this.stack.push({ name: 'libvirt', stop: () => hypervisor.close() });
    const thawGuard = new ThawGuard(hypervisor, log.child({ component: 'thaw-guard' }));
    await thawGuard.start();
    this.stack.push({ name: 'thaw-guard', stop: () => thawGuard.stop() });

    const bus = busOptions(config);
    const connection = new BusConnection({ url: bus.url, logger: log, connectionName: `virt-dr-agent ${config.host}` });
    await connection.start();
    this.stack.push({ name: 'bus', stop: () => connection.close() });
    const notifier = new Notifier({ bus, connection, logger: log });
    await notifier.start();
    this.stack.push({ name: 'notifier', stop: () => notifier.stop() });

    const callAgent = callAgentOverBus({ url: bus.url, exchange: bus.exchange, topic: bus.topic, durableExchange: isDurable(bus) });
    const targets = openTargets(this.parts.targets, { host: config.host, statePath: config.state.path, log });
    this.stack.push({ name: 'repository targets', stop: () => Promise.all(targets.map((t) => t.close())).then(() => undefined) });
    // The primary: every tier of a domain without a policy, and where a domain only the repository knows is named.
    const repo = targets[0]!;
    const chains = new ChainRecordStore(join(config.state.path, 'chains'));
    const pending = new PendingInstantStore(join(config.state.path, 'instant'));
    // Before the job runner starts: a requeued job's fresh staging folder must not be swept.
    for (const target of targets) await sweepRepository(target, log);
    const locks = new KeyedLock();
    const policies = new Policies(this.parts.policy, new PolicyStore(config.state.path, this.parts.policy.context, log.child({ component: 'policies' })));
    const domainPolicies = new DomainPolicies(policies, hypervisor, repo);
    const policyOf = (domainUuid: string) => domainPolicies.policyOf(domainUuid);
    const places = tierPlaces(targets, policyOf);
    // A delete, a prune and a drop remove a point from every target that holds it.
    const deletePlaces = targets.map((target, i) => placeOf(target, this.parts.targets[i]!, callAgent));
    const notifyReplication = replicationNotifications(notifier, log);
    const replicator = new Replicator({
      targets,
      copyPlanOf: async (domainUuid) => {
        const policy = await policyOf(domainUuid);
        return { sources: targetsOfTiers(tierTargetsOf(policy.tiers, places.byName)), plan: policy.plan };
      },
      records: new DomainRecordStore(join(config.state.path, 'replication'), parseReplicaRecord),
      locks,
      concurrency: config.replication.concurrency,
      report: (stage, event) => {
        notifyReplication(stage, event);
        metrics.replicationReport(stage, event);
      },
      log: log.child({ component: 'replication' }),
    });
    const backup = backupOperation({
      hypervisor,
      places,
      chains,
      settings: {
        freezeTimeoutSeconds: config.backup.freeze_timeout_s,
        thawTimeoutSeconds: config.backup.thaw_timeout_s,
        bandwidthBytesPerSecond: config.backup.bandwidth_bytes_per_s,
        host: config.host,
        thawGuard,
      },
      defaultEngine: config.backup.engine,
    });
    const holderOf = pointHolder(places, (domainUuid, backupId, options) => replicator.fetchToPrimary(domainUuid, backupId, options));
    const restore = restoreOperation({
      hypervisor,
      holderOf,
      chains,
      pending,
      settings: {
        shutdownGraceMs: config.restore.shutdown_grace_s * 1000,
        newDomainDir: config.restore.new_domain_dir,
        instantBandwidthMiBps: config.restore.instant_bandwidth_mib_s,
        mapping: this.parts.mapping,
      },
    });
    // The split-brain guard asks the domain's home agent on this agent's own bus and topic.
    const askHome = askHomeOverBus(callAgent, config.failover.home_timeout_s * 1000);
    // The metrics hear the replicator and the job runner, and read both when scraped.
    const metrics: AgentMetrics = new AgentMetrics({
      host: config.host,
      version: VERSION,
      jobs: () => jobs.list(null),
      targets,
      replicas: replicator,
      policyOf,
      log: log.child({ component: 'metrics' }),
    });
    const failovers = new DomainRecordStore(join(config.state.path, 'failover'), parseFailoverRecord);
    const pruning: PruneTriggerDeps = { policyOf, submit: (submission) => jobs.submit(submission), log: log.child({ component: 'prune' }) };
    const jobs = new JobRunner({
      journal: new JobJournal(config.state.path),
      operations: {
        backup,
        restore,
        failover: failoverOperation({ restore, repo, askHome, mapping: this.parts.mapping, records: failovers }),
        failback: failbackOperation({ hypervisor, backup, records: failovers, callAgent, homeRestoreTimeoutMs: HOME_RESTORE_TIMEOUT_MS }),
        verify: verifyOperation({ holderOf, tierTargets: (domainUuid) => places.tierTargets(domainUuid) }),
        delete: deleteOperation({ places: deletePlaces, pending, locks }),
        prune: pruneOperation({ policyOf, byName: places.byName, places: deletePlaces, pending, locks, now: () => new Date() }),
      },
      events: allEvents(jobNotifications(notifier, log), replicateAfterBackup(replicator), metrics.jobEvents(), pruneAfterBackup(pruning)),
      log,
      concurrency: config.jobs.concurrency,
      keepFinished: config.jobs.keep_finished,
      progressIntervalMs: config.backup.progress_interval_ms,
    });
    await jobs.start();
    this.stack.push({ name: 'jobs', stop: () => jobs.stop(60_000) });
    if (config.metrics.port !== 0) {
      const server = new MetricsServer(metrics.registry, log.child({ component: 'metrics' }));
      await server.listen(config.metrics.address, config.metrics.port);
      this.stack.push({ name: 'metrics', stop: () => server.close() });
    }
    await resumeInstantRestores(jobs, pending, log);
    await replicator.start();
    this.stack.push({ name: 'replication', stop: () => replicator.stop() });

    const gate: BackupGateDeps = { hypervisor, jobs, pending, places, defaultEngine: config.backup.engine };
    const scheduler = hostScheduler({ gate, jobs, policyOf, statePath: config.state.path, log });
    const api = createApi({
      host: config.host,
      version: VERSION,
      hypervisor,
      repo,
      jobs,
      defaultEngine: config.backup.engine,
      pending,
      roles: config.roles,
      replicas: replicator,
      askHome,
      failovers,
      policies,
      places,
      onPolicyChange: () => scheduler.policiesChanged(),
      scheduleOf: (domainUuid) => scheduler.statusOf(domainUuid),
    });
    const server = new RpcServer({
      bus,
      connection,
      logger: log,
      dispatcher: (request) => api.dispatch(request),
      onRejected: rejectionNotifier(notifier, log),
    });
    await server.start();
    this.stack.push({ name: 'rpc', stop: () => server.stop() });
    // Last: a scheduled backup goes through the same gate as a request, once everything runs.
    await scheduler.start();
    this.stack.push({ name: 'scheduler', stop: () => scheduler.stop() });
    const sweep = sweepPolicies({ ...pruning, listDomains: () => hypervisor.listDomains(), byName: places.byName, intervalMs: config.policy.sweep_s * 1000, now: () => new Date() });
    this.stack.push({ name: 'policy sweep', stop: () => sweep.stop() });
    this.state = 'running';
    log.info({ topic: bus.topic, server: bus.server, exchange: bus.exchange }, 'agent running');
  }

  /**
   * Stops in reverse start order. Every step runs even when an earlier one throws, so a
   * broken broker never keeps the agent from releasing libvirt.
   */
  async stop(): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.state = 'stopping';
    for (const part of this.stack.reverse()) {
      try {
        await part.stop();
      } catch (err) {
        this.log.warn({ part: part.name, err: (err as Error).message }, 'stop step failed');
      }
    }
    this.stack.length = 0;
    this.state = 'stopped';
    this.log.info('agent stopped');
  }
}

/** Where a delete goes: the target itself, or the agent that owns its repository. */
function placeOf(target: RepositoryTarget, spec: TargetSpec, callAgent: CallAgent): PointPlace {
  return spec.ownerAgent === null ? target : placeOwnedBy(target, spec.ownerAgent, callAgent);
}

/**
 * Removes this host's leftover staging folders and reports what it will not trust. A
 * repository it cannot even list is logged, not fatal: the agent still answers, and each
 * backup then fails with its own error.
 */
async function sweepRepository(repo: RepositoryTarget, log: Logger): Promise<void> {
  log = log.child({ target: repo.name });
  try {
    const report = await repo.sweep();
    if (report.removed.length > 0) log.info({ removed: report.removed }, 'removed this host\'s leftover staging folders');
    for (const kept of report.kept) log.info(kept, 'left a staging entry alone');
    for (const point of report.invalid) log.warn(point, 'untrusted backup point: kept, not used');
  } catch (err) {
    log.error({ err: (err as Error).message }, 'repository sweep failed');
  }
}

/** How long a failback waits for the home host to copy the point home and restore it. */
const HOME_RESTORE_TIMEOUT_MS = 4 * 3600_000;

function busOptions(config: AgentConfig): BusOptions {
  return {
    url: config.bus.url,
    exchange: config.bus.exchange,
    topic: config.bus.topic,
    server: config.host,
    amqpDurableQueues: config.bus.amqp_durable_queues,
    rabbitQuorumQueue: config.bus.rabbit_quorum_queue,
    rabbitHaQueues: config.bus.rabbit_ha_queues,
    transientQueuesTtlSeconds: config.bus.rabbit_transient_queues_ttl,
    notificationTopics: config.bus.notification_topics,
    sharedQueue: config.roles.includes('compute'),
  };
}
