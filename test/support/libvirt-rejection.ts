import { expect } from 'vitest';
import { LibvirtError } from '../../native/index.js';

/** Awaits a promise that must reject with a LibvirtError, and returns that error. */
export async function rejection(p: Promise<unknown>): Promise<LibvirtError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(LibvirtError);
    return err as LibvirtError;
  }
  throw new Error('expected a rejection');
}
