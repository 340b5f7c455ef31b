import type { Logger } from 'pino';
import type { HypervisorDomain } from '../libvirt/hypervisor.js';
import type { EngineJournalRecord } from './engine.js';

/**
 * Thaws or resumes a guest a backup stopped, as its journal record says. Both are
 * harmless when already done, so every repair path starts here.
 */
export async function releaseGuest(record: EngineJournalRecord, domain: HypervisorDomain, log: Logger): Promise<void> {
  try {
    if (record.stopped_by === 'agent') await domain.thawFilesystems(5);
    if (record.stopped_by === 'suspend' && (await domain.runState()) === 'paused') {
      await domain.resume();
      log.warn('resumed a domain the backup had paused');
    }
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'could not release the guest');
  }
}
