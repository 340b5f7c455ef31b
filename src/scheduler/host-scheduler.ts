import { join } from 'node:path';
import type { Logger } from 'pino';
import { acceptBackup, type BackupGateDeps } from '../api/backup-gate.js';
import type { JobRunner } from '../jobs/job-runner.js';
import type { Policy } from '../policy/policy.js';
import { DomainRecordStore } from '../util/domain-records.js';
import { parseScheduleRecord } from './schedule-record.js';
import { Scheduler } from './scheduler.js';

/** How often the scheduler reads the domain list and the policies again (a set_policy reads them at once). */
const RESCAN_MS = 60_000;

/**
 * The scheduler of this host's domains: libvirt's domains, each by its resolved policy,
 * its backups submitted through the gate a bus request passes, its records in
 * `<state>/schedule/`.
 */
export function hostScheduler(deps: {
  gate: BackupGateDeps;
  jobs: Pick<JobRunner, 'submit'>;
  policyOf: (domainUuid: string) => Promise<Policy>;
  statePath: string;
  log: Logger;
}): Scheduler {
  const { gate, jobs } = deps;
  return new Scheduler({
    listDomains: () => gate.hypervisor.listDomains(),
    policyOf: (domain) => deps.policyOf(domain.uuid),
    submitBackup: async (domain, request, uniqueId) => {
      const accepted = await acceptBackup(gate, domain.uuid, request, uniqueId);
      const target = { requested: domain.name, uuid: accepted.uuid, name: accepted.name };
      return jobs.submit({ action: 'backup', domain: target, args: { ...request }, context: {}, requestId: null, uniqueId });
    },
    records: new DomainRecordStore(join(deps.statePath, 'schedule'), parseScheduleRecord),
    now: () => new Date(),
    log: deps.log.child({ component: 'scheduler' }),
    rescanMs: RESCAN_MS,
  });
}
