import type { Logger } from 'pino';
import type { HypervisorDomain } from '../libvirt/hypervisor.js';
import { sleep } from '../util/abortable-sleep.js';

const POLL_MS = 500;

/**
 * Stops a domain the way an operator would: asks the guest to shut down (ACPI), waits up
 * to the grace period for it to power off, then forces it off. Forcing is safe here only
 * because its disks are about to be replaced by the point; the old ones are kept aside.
 * Resolves with how it stopped.
 */
export async function stopDomain(
  domain: HypervisorDomain,
  graceMs: number,
  ctx: { signal: AbortSignal; log: Logger },
): Promise<'already' | 'shutdown' | 'forced'> {
  if ((await domain.runState()) === 'shutoff') return 'already';
  if (graceMs > 0) {
    await domain.shutdown().catch((err: Error) => ctx.log.warn({ err: err.message }, 'graceful shutdown refused; forcing the domain off'));
    for (const deadline = Date.now() + graceMs; Date.now() < deadline; ) {
      await sleep(POLL_MS, ctx.signal);
      if ((await domain.runState()) === 'shutoff') return 'shutdown';
    }
    ctx.log.warn({ grace_ms: graceMs }, 'the guest did not shut down within the grace period; forcing it off');
  }
  await domain.destroy();
  return 'forced';
}
