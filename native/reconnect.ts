/**
 * Riding out a libvirtd restart: which calls may be repeated on a new connection, and
 * waiting, bounded, for the daemon to answer again.
 */
import { abortableSleep } from './blockjob.js';
import { isConnectionLost } from './errors.js';
import type { LibvirtBindings } from './libvirt-ffi.js';

/**
 * The BLOCKING functions that only read state, or bring it to a value whatever it was
 * (the guest agent's response timeout; a thaw, which thaws nothing on a thawed guest): a
 * call that issued nothing else may be run again after a reconnect, whatever the lost
 * connection did with it. A thaw cut off by a libvirtd restart is so repeated at once,
 * rather than leaving the guest frozen until the thaw guard's next try. Any other function has a
 * side effect (a snapshot, a commit, a backup job, a checkpoint, a freeze...) that the
 * daemon may or may not have carried out before the socket died, so a call that issued
 * one is never repeated blindly: its caller checks the state first. So neither a shutdown
 * request (a second one fails on a domain the first has stopped) nor a block pull (a
 * second one fails on the job the first started) is here; pullBacking, which reads the
 * disk's job and chain before it starts anything, is the way to try a pull again.
 */
export const REPEATABLE_FUNCTIONS: ReadonlySet<keyof LibvirtBindings> = new Set<keyof LibvirtBindings>([
  'virConnectGetLibVersion',
  'virConnectGetDomainCapabilities',
  'virConnectListAllDomains',
  'virDomainLookupByName',
  'virDomainLookupByUUIDString',
  'virDomainGetXMLDesc',
  'virDomainGetState',
  'virDomainIsActive',
  'virDomainAgentSetResponseTimeout',
  'virDomainFSThaw',
  'virDomainGetBlockJobInfo',
  'virDomainGetJobStats',
  'virDomainBackupGetXMLDesc',
  'virDomainCheckpointLookupByName',
  'virDomainCheckpointGetXMLDesc',
  'virDomainListAllCheckpoints',
]);

/** The first pause before trying a daemon that is down again; each next one doubles, up to LONGEST_RETRY_MS. */
export const FIRST_RETRY_MS = 100;
/** A restarted libvirtd answers within a second or two here: polling faster buys nothing. */
export const LONGEST_RETRY_MS = 1000;

/**
 * Runs `attempt` until it succeeds, or fails with an error that is not "libvirtd cannot
 * be reached" (isConnectionLost), or the deadline (ms since the epoch) has passed: then it
 * rejects with the last error. The first attempt is always made, and one more right at
 * the deadline, so a deadline of "now" means exactly one attempt.
 */
export async function retryWhileUnreachable<T>(attempt: () => Promise<T>, deadline: number): Promise<T> {
  let delay = FIRST_RETRY_MS;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      const left = deadline - Date.now();
      if (!isConnectionLost(err) || left <= 0) throw err;
      await abortableSleep(Math.min(delay, left));
      delay = Math.min(delay * 2, LONGEST_RETRY_MS);
    }
  }
}
