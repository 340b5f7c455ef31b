import type { Logger } from 'pino';
import { DomainBusy } from '../errors.js';
import type { JobRunner } from '../jobs/job-runner.js';
import type { PendingInstantStore } from './pending-instant.js';
import type { RestoreRequest } from './request.js';

/**
 * At start, every instant restore whose copy had not finished gets a job that resumes it
 * (unless a job of that domain is already queued): the domain has been reading from the
 * repository since, and should stop as soon as it can.
 */
export async function resumeInstantRestores(jobs: JobRunner, pending: PendingInstantStore, log: Logger): Promise<void> {
  let records;
  try {
    records = await pending.list();
  } catch (err) {
    log.error({ err: (err as Error).message }, 'unfinished instant restores cannot be listed; none resumed');
    return;
  }
  for (const record of records) {
    const request: RestoreRequest = { backupId: record.backup_id, target: 'replace', newName: null, instant: true, resume: true, definitionFrom: null };
    try {
      const job = await jobs.submit({
        action: 'restore',
        domain: { requested: record.domain_uuid, uuid: record.domain_uuid, name: record.domain_name },
        args: request as unknown as Record<string, unknown>,
        context: {},
        requestId: null,
        uniqueId: null,
      });
      log.info({ job_id: job.job_id, domain: record.domain_name, backup_id: record.backup_id }, 'resuming an instant restore\'s copy');
    } catch (err) {
      if (!(err instanceof DomainBusy)) throw err;
      log.info({ domain: record.domain_name }, 'an instant restore waits for the job that holds its domain');
    }
  }
}
