import { Transform, type TransformCallback } from 'node:stream';
import { sleep } from '../util/abortable-sleep.js';

/**
 * A target's bandwidth limit. One bucket per target, shared by every transfer to and from
 * it, so two concurrent uploads split the configured bytes/s rather than each taking it.
 *
 * Each reservation takes its bytes at once and may drive the balance below zero; the
 * reserver then waits until the refill has paid the debt. Later reservations see the
 * debt and wait longer, so concurrent transfers are served in the order they asked, and
 * the long-run rate is exactly `bytesPerSecond` after one initial burst of `burstBytes`.
 * The clock is injected so the arithmetic is tested without waiting.
 */
export class TokenBucket {
  private balance: number;
  private updatedMs: number;

  constructor(
    readonly bytesPerSecond: number,
    private readonly burstBytes: number,
    private readonly nowMs: () => number = () => performance.now(),
  ) {
    if (!(bytesPerSecond > 0) || !(burstBytes > 0)) throw new RangeError('a token bucket needs a positive rate and burst');
    this.balance = burstBytes;
    this.updatedMs = nowMs();
  }

  /** Takes `bytes` and returns how many ms the caller must wait before sending them. */
  reserve(bytes: number): number {
    const now = this.nowMs();
    this.balance = Math.min(this.burstBytes, this.balance + ((now - this.updatedMs) * this.bytesPerSecond) / 1000);
    this.updatedMs = now;
    this.balance -= bytes;
    return this.balance >= 0 ? 0 : (-this.balance * 1000) / this.bytesPerSecond;
  }

  async take(bytes: number, signal: AbortSignal): Promise<void> {
    const waitMs = this.reserve(bytes);
    if (waitMs > 0) await sleep(waitMs, signal);
  }
}

/** A target's bucket: null (no limit) for 0 bytes/s; bursts of a twentieth of a second, at least 256 KiB. */
export function bucketFor(bytesPerSecond: number): TokenBucket | null {
  return bytesPerSecond > 0 ? new TokenBucket(bytesPerSecond, Math.max(bytesPerSecond / 20, 256 * 1024)) : null;
}

/** A pass-through stream that lets each chunk go only once the bucket allows it. */
export function throttled(bucket: TokenBucket | null, signal: AbortSignal): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      if (!bucket) return callback(null, chunk);
      bucket.take(chunk.length, signal).then(
        () => callback(null, chunk),
        (err: unknown) => callback(err as Error),
      );
    },
  });
}
