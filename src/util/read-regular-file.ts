import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

/**
 * Reads a small file the agent keeps, refusing anything that is not a regular file of at
 * most `maxBytes`: a symlink (O_NOFOLLOW), a FIFO (opened O_NONBLOCK, so the open never
 * waits for a writer, then refused by fstat), a directory or a device. Whatever it
 * refuses throws; nothing here blocks a libuv thread for long or reads without bound.
 */
export async function readRegularFile(path: string, maxBytes: number): Promise<string> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new Error('not a regular file');
    if (stats.size > maxBytes) throw new Error(`${stats.size} bytes, more than the ${maxBytes} allowed`);
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}
