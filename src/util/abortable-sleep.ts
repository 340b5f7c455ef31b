/**
 * Sleeps `ms`, or rejects with the signal's reason as soon as it aborts; the timer is
 * always cleared. One implementation serves both layers: native/ polls block jobs with it.
 */
export { abortableSleep as sleep } from '../../native/index.js';

/** Settles with `promise`, or rejects with `onTimeout()` after `ms`; clears its timer. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
