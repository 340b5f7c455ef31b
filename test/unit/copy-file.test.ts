import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyFileHashed, hashFile } from '../../src/backup/snapshot/copy-file.js';

const CHUNK = 4 << 20;
const never = new AbortController().signal;

describe('copyFileHashed and hashFile', () => {
  // Sizes around the chunk size, where off-by-one errors live.
  for (const size of [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 12345]) {
    it(`copies and hashes ${size} bytes exactly, holes included`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'vdr-copy-'));
      // Half zeroes (skipped on write, kept by truncation), half random.
      const content = Buffer.concat([Buffer.alloc(size >> 1), randomBytes(size - (size >> 1))]);
      writeFileSync(join(dir, 'src'), content);
      const expected = createHash('sha256').update(content).digest('hex');
      let counted = 0;
      const copied = await copyFileHashed(join(dir, 'src'), join(dir, 'dst'), {
        signal: never,
        bandwidth: 0,
        onBytes: (n) => (counted += n),
      });
      expect(copied).toBe(expected);
      expect(counted).toBe(size);
      expect(statSync(join(dir, 'dst')).size).toBe(size);
      expect(readFileSync(join(dir, 'dst')).equals(content)).toBe(true);
      expect(await hashFile(join(dir, 'dst'), never)).toBe(expected);
    });
  }

  it('never overwrites an existing file, and stops when aborted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vdr-copy-'));
    writeFileSync(join(dir, 'src'), randomBytes(3 * CHUNK));
    writeFileSync(join(dir, 'taken'), 'x');
    await expect(copyFileHashed(join(dir, 'src'), join(dir, 'taken'), { signal: never, bandwidth: 0, onBytes: () => {} })).rejects.toThrow(/EEXIST/);
    const abort = new AbortController();
    await expect(
      copyFileHashed(join(dir, 'src'), join(dir, 'dst'), { signal: abort.signal, bandwidth: 0, onBytes: () => abort.abort(new Error('stop')) }),
    ).rejects.toThrow('stop');
  });
});
