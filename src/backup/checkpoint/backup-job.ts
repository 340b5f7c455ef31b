import { BackupJobFailed } from '../../errors.js';
import type { BackupJobProgress, HypervisorDomain } from '../../libvirt/hypervisor.js';
import { sleep } from '../../util/abortable-sleep.js';

const FIRST_POLL_MS = 10;
const LONGEST_POLL_MS = 500;

/**
 * Follows libvirt's backup job until it ends, by polling its statistics (nothing blocks
 * inside libvirt): first after 10 ms, doubling to 500 ms, since a small incremental ends
 * within tens of ms. Resolves when QEMU finished writing every target; rejects with
 * BackupJobFailed when the job failed, and with the abort reason after aborting the job
 * when `signal` fires.
 */
export async function waitForBackupJob(
  domain: HypervisorDomain,
  options: { signal: AbortSignal; onProgress: (progress: BackupJobProgress) => void },
): Promise<void> {
  let delay = FIRST_POLL_MS;
  try {
    for (;;) {
      options.signal.throwIfAborted();
      const job = await domain.backupJob();
      if (job === null) break;
      options.onProgress(job);
      await sleep(delay, options.signal);
      delay = Math.min(delay * 2, LONGEST_POLL_MS);
    }
  } catch (err) {
    if (options.signal.aborted) await abortQuietly(domain);
    throw err;
  }
  const outcome = await domain.lastJobOutcome();
  if (outcome.state === 'unknown') {
    // A libvirtd restart keeps the job (libvirt 9.0 finishes one QEMU completed meanwhile
    // and records it), so this is rare: without a record the targets cannot be trusted.
    throw new BackupJobFailed(`libvirt kept no record of how the backup job of ${domain.name} ended; its targets are not trusted`);
  }
  if (outcome.state !== 'succeeded') {
    throw new BackupJobFailed(`the backup job of ${domain.name} ended ${outcome.state}${outcome.error ? `: ${outcome.error}` : ''}`);
  }
}

/** Aborts the running backup job, if any, and waits (bounded) until libvirt has let it go. */
export async function abortBackupJob(domain: HypervisorDomain, deadline: AbortSignal): Promise<void> {
  if ((await domain.backupJob()) === null) return;
  await domain.abortJob();
  while ((await domain.backupJob()) !== null) await sleep(50, deadline);
}

async function abortQuietly(domain: HypervisorDomain): Promise<void> {
  try {
    await abortBackupJob(domain, AbortSignal.timeout(60_000));
  } catch {
    // The job may have ended meanwhile; the repair after this checks again.
  }
}
