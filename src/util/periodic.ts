/** A task run every `intervalMs` in the background; see `every`. */
export interface Periodic {
  /** No further run starts; resolves once a run under way has ended. */
  stop(): Promise<void>;
}

/**
 * Runs `task` every `intervalMs`, never two runs at once: a tick that finds the previous
 * run still going is skipped. A run's failure is the task's to report; it never stops
 * the next. The timer does not keep the process alive.
 */
export function every(intervalMs: number, task: () => Promise<void>): Periodic {
  let current: Promise<void> | null = null;
  const timer = setInterval(() => {
    if (current) return;
    current = task()
      .catch(() => undefined)
      .finally(() => {
        current = null;
      });
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await current;
    },
  };
}
