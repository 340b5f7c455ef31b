import type { Logger } from 'pino';
import type { Hypervisor } from '../libvirt/hypervisor.js';
import { sleep } from '../util/abortable-sleep.js';

/**
 * Keeps asking guests to thaw after a freeze or thaw went wrong, on the agent's own
 * connection, so it outlives the job that asked. It exists for the freeze that lands
 * late: the agent answered after libvirt gave up on it, and nothing else would ever thaw
 * that guest. So it keeps thawing through the whole window, even after a success: thawing
 * a guest that is not frozen is harmless.
 */
export class ThawGuard {
  /** Per watched domain: the attempts its window still has. */
  private readonly watching = new Map<string, { remaining: number }>();
  private readonly stopping = new AbortController();

  constructor(
    private readonly hypervisor: Hypervisor,
    private readonly log: Logger,
    private readonly settings = { attempts: 12, gapMs: 5000, thawTimeoutSeconds: 5 },
  ) {}

  /**
   * Starts a full window of thaws for the domain. A domain already watched gets its
   * window restarted rather than ignored: each failed freeze or thaw may itself land
   * late, so the window must run a full length after the newest one, not only after the
   * first. (Ignoring it let a freeze that failed near the end of an earlier window stay
   * frozen in the guest once the guard stopped.)
   */
  watch(domainUuid: string): void {
    const current = this.watching.get(domainUuid);
    if (current) {
      current.remaining = this.settings.attempts;
      return;
    }
    const fresh = { remaining: this.settings.attempts };
    this.watching.set(domainUuid, fresh);
    void this.thawRepeatedly(domainUuid, fresh);
  }

  stop(): void {
    this.stopping.abort();
  }

  private async thawRepeatedly(domainUuid: string, window: { remaining: number }): Promise<void> {
    const log = this.log.child({ domain_uuid: domainUuid });
    try {
      for (let attempt = 1; window.remaining > 0; attempt++) {
        window.remaining--;
        try {
          const domain = await this.hypervisor.lookup(domainUuid);
          const thawed = await domain.thawFilesystems(this.settings.thawTimeoutSeconds);
          if (thawed > 0) log.warn({ attempt, thawed }, 'thaw guard: thawed a guest that was still frozen');
        } catch (err) {
          log.debug({ attempt, err: (err as Error).message }, 'thaw guard: thaw failed');
        }
        try {
          await sleep(this.settings.gapMs, this.stopping.signal);
        } catch {
          return;
        }
      }
    } finally {
      // In the same step as the loop's last check, so no watch() can land in between
      // and reset a window that no loop serves any more.
      this.watching.delete(domainUuid);
    }
  }
}
