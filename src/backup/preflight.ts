import { DomainNotRunning, GuestAgentUnavailable } from '../errors.js';
import { hasGuestAgentChannel, parseDomainDisks } from '../libvirt/domain-xml.js';
import type { HypervisorDomain } from '../libvirt/hypervisor.js';
import type { BackupRequest } from './run-backup.js';
import { selectDisks } from './select-disks.js';

/**
 * The checks a backup request can fail before any job exists, so the caller gets a
 * failure reply at once instead of a job that fails a moment later: the domain must be
 * running or paused, its disks must be ones the agent can save, and quiesce=agent needs
 * a guest agent channel. The job checks again when it runs; the domain may have changed.
 * Returns the domain XML it read.
 */
export async function preflightBackup(domain: HypervisorDomain, request: BackupRequest): Promise<string> {
  const state = await domain.runState();
  if (state !== 'running' && state !== 'paused') {
    throw new DomainNotRunning(`domain ${domain.name} is ${state}; only running or paused domains can be backed up`);
  }
  const xml = await domain.xml();
  selectDisks(parseDomainDisks(xml), request.excludeDisks);
  if (request.quiesce === 'agent' && !hasGuestAgentChannel(xml)) {
    throw new GuestAgentUnavailable(`domain ${domain.name} has no guest agent channel; quiesce=agent cannot work`);
  }
  return xml;
}
