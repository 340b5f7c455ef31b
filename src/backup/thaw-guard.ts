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
  private readonly watching = new Set<string>();
  private readonly stopping = new AbortController();

  constructor(
    private readonly hypervisor: Hypervisor,
    private readonly log: Logger,
    private readonly settings = { attempts: 12, gapMs: 5000, thawTimeoutSeconds: 5 },
  ) {}

  watch(domainUuid: string): void {
    if (this.watching.has(domainUuid)) return;
    this.watching.add(domainUuid);
    void this.thawRepeatedly(domainUuid).finally(() => this.watching.delete(domainUuid));
  }

  stop(): void {
    this.stopping.abort();
  }

  private async thawRepeatedly(domainUuid: string): Promise<void> {
    const log = this.log.child({ domain_uuid: domainUuid });
    for (let attempt = 1; attempt <= this.settings.attempts; attempt++) {
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
  }
}
