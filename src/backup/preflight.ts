import { DomainNotRunning, GuestAgentUnavailable } from '../errors.js';
import { hasGuestAgentChannel, isNovaInstance, parseDomainDisks, type DomainDisk } from '../libvirt/domain-xml.js';
import type { HypervisorDomain } from '../libvirt/hypervisor.js';
import type { EngineName } from '../repo/point.js';
import { chooseEngine } from './choose-engine.js';
import type { BackupRequest, EngineChoice } from './request.js';
import { selectDisks, type BackupDisk } from './select-disks.js';

/** What the host offers, and the engine the agent uses when a request names none. */
export interface EngineSettings {
  backupApi: boolean;
  defaultEngine: EngineChoice;
}

export interface Preflight {
  xml: string;
  allDisks: DomainDisk[];
  disks: BackupDisk[];
  engine: EngineName;
}

/**
 * The checks a backup request can fail before any job exists, so the caller gets a
 * failure reply at once instead of a job that fails a moment later: the domain must be
 * running or paused, its disks must be ones the agent can save, the engine must be safe
 * for it, and quiesce=agent needs a guest agent channel. The job checks again when it
 * runs; the domain may have changed. Nothing here changes the domain.
 */
export async function preflightBackup(
  domain: HypervisorDomain,
  request: BackupRequest,
  engines: EngineSettings,
): Promise<Preflight> {
  const state = await domain.runState();
  if (state !== 'running' && state !== 'paused') {
    throw new DomainNotRunning(`domain ${domain.name} is ${state}; only running or paused domains can be backed up`);
  }
  const xml = await domain.xml();
  const allDisks = parseDomainDisks(xml);
  const disks = selectDisks(allDisks, request.excludeDisks);
  const engine = chooseEngine(request.engine ?? engines.defaultEngine, {
    domainName: domain.name,
    backupApi: engines.backupApi,
    novaInstance: isNovaInstance(xml),
    disks,
  });
  if (request.quiesce === 'agent' && !hasGuestAgentChannel(xml)) {
    throw new GuestAgentUnavailable(`domain ${domain.name} has no guest agent channel; quiesce=agent cannot work`);
  }
  return { xml, allDisks, disks, engine };
}
