import { sanitizeContext } from '../bus/context.js';
import { preflightBackup } from '../backup/preflight.js';
import { DomainNotFound, InvalidArgument, NoSuchMethod } from '../errors.js';
import type { BackupRequest, EngineChoice } from '../backup/request.js';
import { JOB_STATES, publicJob, type JobState } from '../jobs/job.js';
import type { JobRunner } from '../jobs/job-runner.js';
import type { Hypervisor } from '../libvirt/hypervisor.js';
import type { FileRepository } from '../repo/file-repository.js';
import { pointOf } from '../repo/point.js';
import { quote } from '../util/clip.js';
import { isBackupId, isUuid } from '../util/ids.js';
import { ArgReader, checkDomainName } from './args.js';

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
  repo: FileRepository;
  jobs: JobRunner;
  /** `backup.engine`, for the preflight of a request that names no engine. */
  defaultEngine: EngineChoice;
}

type Handler = (args: Record<string, unknown>, call: ApiCall) => Promise<ApiOutcome>;

/** RPC API 1.0: each method parses its args once, then does its work. */
export function createApi(deps: ApiDeps): { dispatch(call: ApiCall): Promise<ApiOutcome>; methods: string[] } {
  const answer = (value: unknown): ApiOutcome => ({ result: Promise.resolve(value) });

  const handlers: Record<string, Handler> = {
    async ping(args) {
      new ArgReader('ping', args).done();
      return answer({
        host: deps.host,
        version: deps.version,
        libvirt_version: await deps.hypervisor.libvirtVersion(),
        roles: ['compute'],
        capabilities: [
          'backup',
          'backup.incremental',
          'quiesce.agent',
          'quiesce.suspend',
          'engine.snapshot',
          ...((await deps.hypervisor.supportsBackupApi()) ? ['engine.checkpoint'] : []),
        ],
      });
    },

    async backup(args, call) {
      const read = new ArgReader('backup', args);
      const domainName = checkDomainName('backup', read.string('domain'));
      const request: BackupRequest = {
        mode: read.oneOf('mode', ['auto', 'full', 'incremental'] as const, 'auto'),
        quiesce: read.oneOf('quiesce', ['auto', 'agent', 'suspend', 'none'] as const, 'auto'),
        kind: read.oneOf('kind', ['scheduled', 'manual'] as const, 'manual'),
        engine: read.optionalOneOf('engine', ['auto', 'checkpoint', 'snapshot'] as const),
        excludeDisks: read.stringList('exclude_disks'),
      };
      const wait = read.boolean('wait', false);
      read.done();
      const domain = await deps.hypervisor.lookup(domainName);
      // A busy domain is refused before the preflight's libvirt calls: a scheduler that
      // sends again while a backup runs costs one lookup (bench/, bus cost).
      deps.jobs.assertCanAccept(domain, call.uniqueId);
      await preflightBackup(domain, request, {
        backupApi: await deps.hypervisor.supportsBackupApi(),
        defaultEngine: deps.defaultEngine,
      });
      const job = await deps.jobs.submit({
        action: 'backup',
        domain: { requested: domainName, uuid: domain.uuid, name: domain.name },
        args: request as unknown as Record<string, unknown>,
        // The journal is on disk: the caller's token (and any password) stays out of it.
        context: sanitizeContext(call.context),
        requestId: call.requestId,
        uniqueId: call.uniqueId,
      });
      return {
        result: wait ? deps.jobs.waitFor(job.job_id).then(publicJob) : Promise.resolve({ job_id: job.job_id }),
      };
    },

    async list_backups(args) {
      const read = new ArgReader('list_backups', args);
      const domain = checkDomainName('list_backups', read.string('domain'));
      read.done();
      const uuid = await domainUuid(deps.hypervisor, domain);
      const scan = await deps.repo.scanPoints(uuid);
      // `invalid` is additive: points kept in the repository that the agent does not trust.
      return answer({
        backups: scan.points.map(pointOf),
        invalid: scan.invalid.map(({ backup_id, reason }) => ({ backup_id, reason })),
      });
    },

    async get_backup(args) {
      const read = new ArgReader('get_backup', args);
      const domain = checkDomainName('get_backup', read.string('domain'));
      const backupId = read.string('backup_id');
      read.done();
      if (!isBackupId(backupId)) throw new InvalidArgument(`get_backup(): backup_id ${quote(backupId)} is not a backup id`);
      const uuid = await domainUuid(deps.hypervisor, domain);
      return answer(pointOf(await deps.repo.getPoint(uuid, backupId)));
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

/**
 * The UUID the repository files a domain under. A domain that libvirt no longer knows
 * (undefined after a disaster) is still found by its UUID, since its backups outlive it.
 */
async function domainUuid(hypervisor: Hypervisor, domain: string): Promise<string> {
  try {
    return (await hypervisor.lookup(domain)).uuid;
  } catch (err) {
    if (err instanceof DomainNotFound && isUuid(domain)) return domain.toLowerCase();
    throw err;
  }
}
