import { sanitizeContext } from '../bus/context.js';
import { acceptBackup, refuseWhileInstantPending } from './backup-gate.js';
import { BackupNotFound, DomainExists, DomainNotFound, InvalidArgument, NoSuchMethod, RoleMissing } from '../errors.js';
import { failoverRestore } from '../failover/failover-operation.js';
import { refuseSplitBrain, type AskHome } from '../failover/home-check.js';
import type { BackupPlaces } from '../backup/placement.js';
import type { EngineChoice } from '../backup/request.js';
import { JOB_STATES, publicJob, type JobAction, type JobState } from '../jobs/job.js';
import type { JobRunner } from '../jobs/job-runner.js';
import type { Hypervisor } from '../libvirt/hypervisor.js';
import type { AgentRole } from '../config.js';
import type { Replicator } from '../replication/replicator.js';
import type { RepositoryTarget } from '../repo/target.js';
import { pointOf, type PlacedPoint } from '../repo/point.js';
import { pointIn, type TieredPoint } from '../tiers/tier-view.js';
import { quote } from '../util/clip.js';
import type { PendingInstantStore } from '../restore/pending-instant.js';
import { isUuid } from '../util/ids.js';
import { ArgReader, checkDomainName } from './args.js';
import { checkBackupId, readBackupArgs, readDeleteArgs, readFailbackArgs, readFailoverArgs, readRestoreArgs, readVerifyArgs } from './job-requests.js';
import { failoverOf } from '../failover/failback-operation.js';
import type { FailoverRecord } from '../failover/failover-record.js';
import type { DomainRecordStore } from '../util/domain-records.js';
import type { Policies } from '../policy/policies.js';
import { getPolicy, setPolicy, type PolicyApiDeps } from './policy-methods.js';
import { preflightDelete, preflightRestore, preflightVerify, type PointPreflightDeps } from './preflight-points.js';
import { resolveDomain, type DomainRef } from './resolve-domain.js';

/** A request as the bus hands it over, already parsed from its envelope. */
export interface ApiCall {
  method: string;
  args: Record<string, unknown>;
  context: Record<string, unknown>;
  requestId: string | null;
  uniqueId: string | null;
}

/**
 * `dispatch` resolves once the request is safe (a job is journaled), so the bus may ack
 * it; `result` then settles with the reply. Quick methods settle both at once.
 */
export interface ApiOutcome {
  result: Promise<unknown>;
}

export interface ApiDeps {
  host: string;
  version: string;
  hypervisor: Hypervisor;
  repo: RepositoryTarget;
  jobs: JobRunner;
  /** `backup.engine`, for the preflight of a request that names no engine. */
  defaultEngine: EngineChoice;
  /** Instant restores whose copy has not ended: their points stay, their domains take no backup. */
  pending: PendingInstantStore;
  roles: readonly AgentRole[];
  /** Where each point has been copied, and the RPO that gives. */
  replicas: Pick<Replicator, 'copiesOf' | 'rpoSeconds' | 'worstRpo' | 'secondaryHolding'>;
  /** The split-brain guard's question to a domain's home agent. */
  askHome: AskHome;
  /** The domains this DR node failed over, and where they came from. */
  failovers: DomainRecordStore<FailoverRecord>;
  /** Where each domain's backups go: what a manual backup is admitted by. */
  places: Pick<BackupPlaces, 'admit' | 'scan' | 'tierTargets'>;
  /** The backup policies: the config file's defaults, the stored project and domain layers. */
  policies: Policies;
  /** A policy was set: the scheduler reads the policies again. */
  onPolicyChange: () => void;
  /** A domain's schedule as the scheduler keeps it, for get_policy. */
  scheduleOf: PolicyApiDeps['scheduleOf'];
}

type Handler = (args: Record<string, unknown>, call: ApiCall) => Promise<ApiOutcome>;

/** RPC API 1.0: each method parses its args once, then does its work. */
export function createApi(deps: ApiDeps): { dispatch(call: ApiCall): Promise<ApiOutcome>; methods: string[] } {
  const answer = (value: unknown): ApiOutcome => ({ result: Promise.resolve(value) });

  /** Journals the job (the bus acks the request once this resolves) and says what the reply will be. */
  const submit = async (
    action: JobAction,
    requested: string,
    domain: { uuid: string; name: string },
    request: object,
    call: ApiCall,
    wait: boolean,
  ): Promise<ApiOutcome> => {
    const job = await deps.jobs.submit({
      action,
      domain: { requested, uuid: domain.uuid, name: domain.name },
      args: request as Record<string, unknown>,
      // The journal is on disk: the caller's token (and any password) stays out of it.
      context: sanitizeContext(call.context),
      requestId: call.requestId,
      uniqueId: call.uniqueId,
    });
    return { result: wait ? deps.jobs.waitFor(job.job_id).then(publicJob) : Promise.resolve({ job_id: job.job_id }) };
  };

  const pointDeps: PointPreflightDeps = {
    places: deps.places,
    pending: deps.pending,
    onSecondary: async (domainUuid, backupId) => (await deps.replicas.secondaryHolding(domainUuid, backupId)) !== null,
    async isDefined(name) {
      try {
        await deps.hypervisor.lookup(name);
        return true;
      } catch (err) {
        if (err instanceof DomainNotFound) return false;
        throw err;
      }
    },
  };

  /** Points as replies show them: each with the target of its tier first, then the secondaries holding a copy. */
  const placedPoints = async (domainUuid: string, points: readonly TieredPoint[]): Promise<PlacedPoint[]> => {
    const copies = await deps.replicas.copiesOf(domainUuid, points.map((p) => p.manifest.backup_id));
    return points.map(({ manifest, target }) => ({
      ...pointOf(manifest),
      targets: [target.name, ...copies.get(manifest.backup_id)!.filter((name) => name !== target.name)],
    }));
  };

  /** The domain a job on its points is about (libvirt's, or only the repository's), if it is free. */
  const claimable = async (domainName: string, call: ApiCall): Promise<DomainRef> => {
    const domain = await resolveDomain(deps.hypervisor, deps.repo, domainName);
    deps.jobs.assertCanAccept(domain, call.uniqueId);
    return domain;
  };

  const handlers: Record<string, Handler> = {
    async ping(args) {
      new ArgReader('ping', args).done();
      return answer({
        host: deps.host,
        version: deps.version,
        libvirt_version: await deps.hypervisor.libvirtVersion(),
        roles: deps.roles,
        worst_rpo: await deps.replicas.worstRpo(),
        capabilities: [
          'backup',
          'backup.incremental',
          'quiesce.agent',
          'quiesce.suspend',
          'engine.snapshot',
          'restore',
          'restore.instant',
          'verify',
          'delete',
          'replicate',
          'policy',
          ...(deps.roles.includes('dr') ? ['failover', 'failback'] : []),
          ...((await deps.hypervisor.supportsBackupApi()) ? ['engine.checkpoint'] : []),
        ],
      });
    },

    async backup(args, call) {
      const { domain: domainName, wait, request } = readBackupArgs(args);
      const domain = await acceptBackup(deps, domainName, request, call.uniqueId);
      return submit('backup', domainName, domain, request, call, wait);
    },

    async restore(args, call) {
      const { domain: domainName, wait, request } = readRestoreArgs(args);
      const domain = await claimable(domainName, call);
      await preflightRestore(domain, request, pointDeps);
      return submit('restore', domainName, domain, request, call, wait);
    },

    async verify(args, call) {
      const { domain: domainName, wait, request } = readVerifyArgs(args);
      const domain = await claimable(domainName, call);
      await preflightVerify(domain, request.backupId, pointDeps);
      return submit('verify', domainName, domain, request, call, wait);
    },

    async delete_backup(args, call) {
      const { domain: domainName, wait, request } = readDeleteArgs(args);
      const domain = await claimable(domainName, call);
      await preflightDelete(domain, request.backupId, pointDeps);
      return submit('delete', domainName, domain, request, call, wait);
    },

    /**
     * DR role: brings a domain up on this node from a point in its own repository. Refused
     * while the domain is defined here, and while its home agent says it still runs there.
     */
    async failover(args, call) {
      if (!deps.roles.includes('dr')) throw new RoleMissing(`failover(): agent ${deps.host} is not a DR node (roles: ${deps.roles.join(', ')})`);
      const { domain: domainName, wait, request } = readFailoverArgs(args);
      const domain = await resolveDomain(deps.hypervisor, deps.repo, domainName);
      deps.jobs.assertCanAccept(domain, call.uniqueId);
      const point = request.backupId === null ? await deps.repo.latestPoint(domain.uuid) : await deps.repo.getPoint(domain.uuid, request.backupId);
      if (!point) throw new BackupNotFound(`failover(): this DR node has no backup of domain ${domainName}`);
      // The home host first: that the domain still runs there is what the caller must hear.
      await refuseSplitBrain(point, request.force, deps.askHome);
      if (domain.defined) throw new DomainExists(`failover(): domain ${domain.name} is defined on this host already`);
      return submit('failover', domainName, { uuid: domain.uuid, name: point.domain }, failoverRestore(point.backup_id, request.force), call, wait);
    },

    /**
     * DR role: sends a domain this node failed over back to its home host, with what it
     * wrote here; the DR copy stops once the home copy runs.
     */
    async failback(args, call) {
      if (!deps.roles.includes('dr')) throw new RoleMissing(`failback(): agent ${deps.host} is not a DR node (roles: ${deps.roles.join(', ')})`);
      const { domain: domainName, wait } = readFailbackArgs(args);
      const domain = await deps.hypervisor.lookup(domainName);
      deps.jobs.assertCanAccept(domain, call.uniqueId);
      await failoverOf({ records: deps.failovers }, domain.uuid);
      // Its disks still read the repository until the failover's copy ends: no backup yet.
      await refuseWhileInstantPending(deps.pending, domain);
      return submit('failback', domainName, domain, {}, call, wait);
    },

    /** Whether a domain runs here: what a DR node's failover asks the domain's home agent. */
    async domain_state(args) {
      const read = new ArgReader('domain_state', args);
      const name = checkDomainName('domain_state', read.string('domain'));
      read.done();
      try {
        const domain = await deps.hypervisor.lookup(name);
        return answer({ domain: domain.name, domain_uuid: domain.uuid, state: await domain.runState() });
      } catch (err) {
        if (!(err instanceof DomainNotFound)) throw err;
        return answer({ domain: name, domain_uuid: null, state: 'undefined' });
      }
    },

    async list_backups(args) {
      const read = new ArgReader('list_backups', args);
      const domain = checkDomainName('list_backups', read.string('domain'));
      read.done();
      const { uuid } = await resolveDomain(deps.hypervisor, deps.repo, domain);
      const scan = await deps.places.scan(uuid);
      // `invalid` and `rpo_s` are additive: untrusted entries, and the age of the newest point off the host.
      return answer({
        backups: await placedPoints(uuid, scan.points),
        invalid: scan.invalid.map(({ backup_id, reason, target }) => ({ backup_id, reason, target })),
        rpo_s: await deps.replicas.rpoSeconds(uuid),
      });
    },

    async get_backup(args) {
      const read = new ArgReader('get_backup', args);
      const domain = checkDomainName('get_backup', read.string('domain'));
      const backupId = checkBackupId('get_backup', read.string('backup_id'));
      read.done();
      const { uuid } = await resolveDomain(deps.hypervisor, deps.repo, domain);
      const found = pointIn(await deps.places.scan(uuid), backupId, domain);
      if (!found) throw new BackupNotFound(`get_backup(): domain ${domain} has no backup ${backupId} in any tier`);
      return answer((await placedPoints(uuid, [found]))[0]);
    },

    async get_policy(args, call) {
      return answer(await getPolicy(deps, args, call.context));
    },

    async set_policy(args, call) {
      const answered = await setPolicy(deps, args, call.context);
      deps.onPolicyChange();
      return answer(answered);
    },

    async get_job(args) {
      return answer(publicJob(deps.jobs.get(readJobId('get_job', args))));
    },

    async list_jobs(args) {
      const read = new ArgReader('list_jobs', args);
      const state: JobState | null = read.optionalOneOf('state', JOB_STATES);
      read.done();
      return answer({ jobs: deps.jobs.list(state).map(publicJob) });
    },

    /**
     * Cancels by request. Answers with the job as it is now: a queued job is already
     * cancelled; a running one stops at its next step and ends as cancelled once it has
     * undone what it started (get_job, or the action's `error` notification, tells when).
     */
    async cancel_job(args) {
      return answer(publicJob(await deps.jobs.cancel(readJobId('cancel_job', args))));
    },
  };

  return {
    methods: Object.keys(handlers),
    async dispatch(call) {
      const handler = Object.hasOwn(handlers, call.method) ? handlers[call.method] : undefined;
      if (!handler) throw new NoSuchMethod(`Endpoint does not support RPC method ${call.method}`);
      return handler(call.args, call);
    },
  };
}

/** The one argument of get_job and cancel_job. */
function readJobId(method: string, args: Record<string, unknown>): string {
  const read = new ArgReader(method, args);
  const jobId = read.string('job_id');
  read.done();
  if (!isUuid(jobId)) throw new InvalidArgument(`${method}(): job_id ${quote(jobId)} is not a job id`);
  return jobId;
}
