/**
 * Guest-written bytes are never probed as an image format, on the REAL qemu-img (no
 * libvirt, no guest: the files are made here). A raw "disk" whose content is a qcow2
 * header naming a host file as its backing is what a tenant can write into their own raw
 * disk; any probing info or convert would read it as qcow2 and pull the host file in.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnsupportedDisk } from '../../src/errors.js';
import { convertToQcow2, imageInfo, readChain } from '../../src/qemu/qemu-img.js';

const execFileP = promisify(execFile);
const qemuImg = async (...args: string[]) => (await execFileP('qemu-img', args)).stdout;

const DIR = '/var/lib/virt-dr-test/h8-qemu-img-no-probe';
const SECRET = `host-secret-${randomUUID()}`;
const secretFile = path.join(DIR, 'host-secret.txt');
/** A raw disk whose bytes are a qcow2 header with `secretFile` as its backing file. */
const craftedRaw = path.join(DIR, 'guest-disk.raw');

/** The bytes a qcow2 image reads as, through a raw copy made by qemu-img itself. */
async function contentOf(image: string, format: 'qcow2' | 'raw'): Promise<Buffer> {
  const out = path.join(DIR, `read-${randomUUID()}.raw`);
  await qemuImg('convert', '-f', format, '-O', 'raw', image, out);
  try {
    return await readFile(out);
  } finally {
    await rm(out, { force: true });
  }
}

/** Rewrites a qcow2 header's backing-format extension into an unknown one, as an old tool left it. */
async function forgetBackingFormat(image: string): Promise<void> {
  const bytes = await readFile(image);
  const magic = Buffer.from([0xe2, 0x79, 0x2a, 0xca]);
  const at = bytes.subarray(0, 4096).indexOf(magic);
  expect(at).toBeGreaterThan(0);
  Buffer.from('nope').copy(bytes, at);
  await writeFile(image, bytes);
}

describe('qemu-img never probes guest-written data', () => {
  beforeAll(async () => {
    await rm(DIR, { recursive: true, force: true });
    await mkdir(DIR, { recursive: true });
    await writeFile(secretFile, `${SECRET}\n`.repeat(64));
    await qemuImg('create', '-q', '-f', 'qcow2', '-b', secretFile, '-F', 'raw', craftedRaw, '1M');
    await truncate(craftedRaw, 1 << 20);
  });

  afterAll(() => rm(DIR, { recursive: true, force: true }));

  it('the crafted raw disk does fool a probing qemu-img (the finding this guards against)', async () => {
    const probed = JSON.parse(await qemuImg('info', '--output=json', craftedRaw)) as Record<string, unknown>;
    expect(probed.format).toBe('qcow2');
    expect(probed['backing-filename']).toBe(secretFile);
    expect((await contentOf(craftedRaw, 'qcow2')).includes(SECRET)).toBe(true);
  });

  it('imageInfo opens it as the raw disk it is: no backing file, the file\'s own size', async () => {
    const info = await imageInfo(craftedRaw, 'raw');
    expect(info).toMatchObject({ format: 'raw', backingFile: null, backingFormat: null, virtualSize: 1 << 20 });
  });

  it('a full of the raw disk under an agent overlay copies its bytes, never the host file', async () => {
    const overlay = path.join(DIR, 'guest-disk.virtdr-1.qcow2');
    await qemuImg('create', '-q', '-f', 'qcow2', '-b', craftedRaw, '-F', 'raw', overlay);
    await qemuImg('create', '-q', '-f', 'qcow2', '-b', overlay, '-F', 'qcow2', path.join(DIR, 'top.qcow2'));
    const chain = await readChain({ file: path.join(DIR, 'top.qcow2'), format: 'qcow2' });
    expect(chain.map((l) => l.format)).toEqual(['qcow2', 'qcow2', 'raw']);
    const out = path.join(DIR, 'flat.qcow2');
    await convertToQcow2(chain, out);

    const flat = await contentOf(out, 'qcow2');
    expect(flat.includes(SECRET)).toBe(false);
    expect(flat.equals(await readFile(craftedRaw))).toBe(true);
    // And the point file itself names no backing file.
    expect((await imageInfo(out, 'qcow2')).backingFile).toBeNull();
  });

  it('refuses a chain layer that records a backing file without its format, before any copy', async () => {
    const overlay = path.join(DIR, 'no-backing-format.qcow2');
    await qemuImg('create', '-q', '-f', 'qcow2', '-b', craftedRaw, '-F', 'raw', overlay);
    await forgetBackingFormat(overlay);
    expect((await imageInfo(overlay, 'qcow2')).backingFormat).toBeNull();

    const refused = readChain({ file: overlay, format: 'qcow2' });
    await expect(refused).rejects.toThrow(UnsupportedDisk);
    await expect(refused).rejects.toThrow('without its format');
  });

  it('flattens an ordinary chain to exactly what the guest sees', async () => {
    const base = path.join(DIR, 'base.qcow2');
    const top = path.join(DIR, 'base.virtdr-2.qcow2');
    await qemuImg('create', '-q', '-f', 'qcow2', base, '4M');
    await execFileP('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0xaa 0 1M', base]);
    await qemuImg('create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', top);
    await execFileP('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0xbb 1M 1M', top]);
    const out = path.join(DIR, 'ordinary.qcow2');
    await convertToQcow2(await readChain({ file: top, format: 'qcow2' }), out);
    expect((await contentOf(out, 'qcow2')).equals(await contentOf(top, 'qcow2'))).toBe(true);
  });
});
