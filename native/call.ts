/**
 * Low-level helpers shared by the adapter: running a bound C function off the event
 * loop, and reading C strings with the right ownership.
 */
import ref from '@2060.io/ref-napi';
import { libc, type NativeFn, type Ptr } from './libvirt-ffi.js';

/** Run a bound C function on the libuv thread pool. Rejects only on ffi-level errors. */
export function callOffLoop<A extends unknown[], R>(fn: NativeFn<A, R>, args: A): Promise<R> {
  return new Promise<R>((resolve, reject) => {
    const done = (err: Error | null, value: R): void => {
      // `args` is referenced here so strings/buffers outlive the pool-thread call
      // (ffi-napi keeps them too; this is belt and braces).
      void args;
      if (err) reject(err);
      else resolve(value);
    };
    fn.async(...([...args, done] as [...A, typeof done]));
  });
}

/** Read a NUL-terminated string libvirt allocated for us, then free it. */
export function takeCString(ptr: Ptr): string {
  try {
    return ref.readCString(ptr, 0);
  } finally {
    libc.free(ptr);
  }
}

/** Read a `const char *` that stays owned by libvirt (e.g. virDomainGetName). */
export function borrowCString(ptr: Ptr): string {
  return ref.isNull(ptr) ? '' : ref.readCString(ptr, 0);
}
