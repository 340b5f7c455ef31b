import type { Logger } from 'pino';
import { HypervisorError } from '../errors.js';
import type { Hypervisor, HypervisorSession } from '../libvirt/hypervisor.js';
import { sleep } from '../util/abortable-sleep.js';

/**
 * Keeps asking guests to thaw after a freeze or thaw went wrong, so it outlives the job
 * that asked. It exists for the freeze that lands late: the agent answered after libvirt
 * gave up on it, and nothing else would ever thaw that guest. So it keeps thawing through
 * the whole window, even after a success: thawing a guest that is not frozen is harmless.
 *
 * It thaws on a libvirt session of its own: calls on one connection run one at a time,
 * and a thaw waits on a guest agent that may hang for its whole timeout, which on the
 * agent's shared connection would delay every ping and lookup behind it. The session is
 * opened by `start`, closed by `stop`, and opened afresh after it failed.
 */
export class ThawGuard {
  /** Per watched domain: the attempts its window still has. */
  private readonly watching = new Map<string, { remaining: number }>();
  private readonly loops = new Set<Promise<void>>();
  private readonly stopping = new AbortController();
  /** Shared by the loops; one open at a time, however many loops need it at once. */
  private session: Promise<HypervisorSession> | null = null;

  constructor(
    private readonly hypervisor: Pick<Hypervisor, 'openSession'>,
    private readonly log: Logger,
    private readonly settings = { attempts: 12, gapMs: 5000, thawTimeoutSeconds: 5 },
  ) {}

  /** Opens the guard's session. A failure is logged; the first thaw then opens it. */
  async start(): Promise<void> {
    try {
      await this.currentSession();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'thaw guard: no libvirt session yet; the first thaw opens one');
    }
  }

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
    const loop = this.thawRepeatedly(domainUuid, fresh).finally(() => this.loops.delete(loop));
    this.loops.add(loop);
  }

  /** Ends every window, lets a thaw in flight finish (bounded by its timeout), closes the session. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await Promise.allSettled([...this.loops]);
    await this.closeSession();
  }

  private async thawRepeatedly(domainUuid: string, window: { remaining: number }): Promise<void> {
    const log = this.log.child({ domain_uuid: domainUuid });
    try {
      for (let attempt = 1; window.remaining > 0 && !this.stopping.signal.aborted; attempt++) {
        window.remaining--;
        try {
          const session = await this.currentSession();
          const domain = await session.lookup(domainUuid);
          const thawed = await domain.thawFilesystems(this.settings.thawTimeoutSeconds);
          if (thawed > 0) log.warn({ attempt, thawed }, 'thaw guard: thawed a guest that was still frozen');
        } catch (err) {
          log.debug({ attempt, err: (err as Error).message }, 'thaw guard: thaw failed');
          if (err instanceof HypervisorError && err.retryable) await this.closeSession();
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

  private currentSession(): Promise<HypervisorSession> {
    if (this.session) return this.session;
    const opening = this.hypervisor.openSession();
    this.session = opening;
    // A failed open is forgotten, so the next attempt tries again.
    opening.catch(() => {
      if (this.session === opening) this.session = null;
    });
    return opening;
  }

  /** Drops the session (a lost connection, or stop); the next thaw opens a new one. */
  private async closeSession(): Promise<void> {
    const session = this.session;
    this.session = null;
    if (!session) return;
    await session
      .then((s) => s.close())
      .catch((err: Error) => this.log.debug({ err: err.message }, 'thaw guard: closing its session failed'));
  }
}
