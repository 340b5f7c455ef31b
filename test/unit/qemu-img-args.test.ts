import { describe, expect, it } from 'vitest';
import { UnsupportedDisk } from '../../src/errors.js';
import {
  createArgs,
  backingLayer,
  chainSpec,
  convertArgs,
  infoArgs,
  rebaseArgs,
  safeRebaseArgs,
  type ImageFormat,
  type ImageInfo,
  type ImageLayer,
} from '../../src/qemu/qemu-img.js';

const qcow2 = (file: string): ImageLayer => ({ file, format: 'qcow2' });
const raw = (file: string): ImageLayer => ({ file, format: 'raw' });

/** The value right after `flag` in an argument array. */
function after(args: string[], flag: string): string | undefined {
  const at = args.indexOf(flag);
  return at >= 0 ? args[at + 1] : undefined;
}

/** The layers a `json:` chain spec opens, top first, each as qemu would: driver, file, backing. */
function specLayers(spec: string): { driver: unknown; filename: unknown; backing: unknown }[] {
  expect(spec.startsWith('json:')).toBe(true);
  const layers = [];
  let node = JSON.parse(spec.slice(5)) as Record<string, unknown> | null;
  while (node !== null) {
    const file = node.file as Record<string, unknown>;
    expect(file.driver).toBe('file');
    layers.push({ driver: node.driver, filename: file.filename, backing: node.backing });
    if (node.driver === 'raw') {
      expect(node).not.toHaveProperty('backing');
      break;
    }
    // Every qcow2 layer says what is below it, down to an explicit null: nothing left to its header.
    expect(node).toHaveProperty('backing');
    node = node.backing as Record<string, unknown> | null;
  }
  return layers;
}

/** Every chain of up to four layers the agent can meet: qcow2 layers, ending in qcow2 or raw. */
function allChains(): ImageLayer[][] {
  const chains: ImageLayer[][] = [];
  for (let depth = 1; depth <= 4; depth++) {
    for (const bottom of ['qcow2', 'raw'] as ImageFormat[]) {
      const layers = Array.from({ length: depth - 1 }, (_, i) => qcow2(`/images/layer-${i}.qcow2`));
      chains.push([...layers, { file: `/images/base.${bottom}`, format: bottom }]);
    }
  }
  return chains;
}

describe('qemu-img argument arrays name every format', () => {
  it('info: -f with the layer\'s format, one layer only, force-share', () => {
    for (const layer of [qcow2('/images/a.qcow2'), raw('/images/disk.raw')]) {
      const args = infoArgs(layer);
      expect(args[0]).toBe('info');
      expect(after(args, '-f')).toBe(layer.format);
      expect(args).toContain('-U');
      expect(args).not.toContain('--backing-chain');
      expect(args.at(-1)).toBe(layer.file);
    }
  });

  it('convert: -f for the top, -O qcow2, and a json: spec naming every layer down to a null backing', () => {
    for (const chain of allChains()) {
      const args = convertArgs(chain, '/repo/p/vda.qcow2');
      expect(args[0]).toBe('convert');
      expect(after(args, '-f')).toBe(chain[0]!.format);
      expect(after(args, '-O')).toBe('qcow2');
      expect(args.at(-1)).toBe('/repo/p/vda.qcow2');
      const layers = specLayers(args.at(-2)!);
      expect(layers.map((l) => [l.driver, l.filename])).toEqual(chain.map((l) => [l.format, l.file]));
      if (chain.at(-1)!.format === 'qcow2') expect(layers.at(-1)!.backing).toBeNull();
      // No bare path: every path qemu-img opens is inside the spec.
      expect(args.filter((a) => a.startsWith('/')).length).toBe(1);
    }
  });

  it('convert: a raw disk alone is opened as raw, whatever its bytes look like', () => {
    const args = convertArgs([raw('/images/disk.raw')], '/repo/p/vda.qcow2');
    expect(after(args, '-f')).toBe('raw');
    expect(specLayers(args.at(-2)!)).toEqual([{ driver: 'raw', filename: '/images/disk.raw', backing: undefined }]);
  });

  it('rebase: -f for the overlay and -F for its new backing, unsafe (the backing is recorded, not opened)', () => {
    for (const format of ['qcow2', 'raw'] as ImageFormat[]) {
      const args = rebaseArgs(qcow2('/repo/.partial/vda.qcow2'), { file: '../20261124T000000000Z-abcdef/vda.qcow2', format });
      expect(args.slice(0, 2)).toEqual(['rebase', '-u']);
      expect(after(args, '-f')).toBe('qcow2');
      expect(after(args, '-F')).toBe(format);
      expect(after(args, '-b')).toBe('../20261124T000000000Z-abcdef/vda.qcow2');
      expect(args.at(-1)).toBe('/repo/.partial/vda.qcow2');
    }
  });

  it('safe rebase: the merged overlay keeps its content, reports progress, names both formats', () => {
    const overlay = qcow2('/repo/u/20261124T000000002Z-abcdef/vda.qcow2.virtdr-merge');
    const args = safeRebaseArgs(overlay, { file: '../20261124T000000000Z-abcdef/vda.qcow2', format: 'qcow2' });
    expect(args).not.toContain('-u');
    expect(args.slice(0, 2)).toEqual(['rebase', '-p']);
    expect([after(args, '-f'), after(args, '-F'), after(args, '-b'), args.at(-1)]).toEqual(['qcow2', 'qcow2', '../20261124T000000000Z-abcdef/vda.qcow2', overlay.file]);
    // Onto nothing: the overlay becomes a whole image.
    expect(safeRebaseArgs(overlay, null)).toEqual(['rebase', '-p', '-f', 'qcow2', '-b', '', overlay.file]);
    expect(() => safeRebaseArgs(raw('/repo/vda.raw'), null)).toThrow(UnsupportedDisk);
  });

  it('create: an empty qcow2 of an exact byte size, and nothing else', () => {
    expect(createArgs('/r/.partial-h-x/vda.qcow2', 268435456)).toEqual(['create', '-q', '-f', 'qcow2', '/r/.partial-h-x/vda.qcow2', '268435456']);
    expect(() => createArgs('/r/x.qcow2', 0)).toThrow(RangeError);
    expect(() => createArgs('/r/x.qcow2', 1.5)).toThrow(RangeError);
  });

  it('keeps odd file names intact inside the spec (commas, quotes, spaces)', () => {
    const file = '/images/a, "b" =c.qcow2';
    expect(specLayers(chainSpec([qcow2(file)]))[0]!.filename).toBe(file);
  });

  it('refuses what it cannot name: an unknown format, a relative path, raw with a layer below, no layer', () => {
    const vmdk = { file: '/images/a.vmdk', format: 'vmdk' } as unknown as ImageLayer;
    expect(() => infoArgs(vmdk)).toThrow(UnsupportedDisk);
    expect(() => convertArgs([vmdk], '/out')).toThrow(UnsupportedDisk);
    expect(() => rebaseArgs(qcow2('/o.qcow2'), vmdk)).toThrow(UnsupportedDisk);
    expect(() => infoArgs(raw('images/disk.raw'))).toThrow('not absolute');
    expect(() => convertArgs([raw('/a.raw'), qcow2('/b.qcow2')], '/out')).toThrow('cannot have a backing file');
    expect(() => convertArgs([], '/out')).toThrow(UnsupportedDisk);
    expect(() => rebaseArgs(raw('/o.raw'), qcow2('/b.qcow2'))).toThrow(UnsupportedDisk);
  });
});

describe('backingLayer: the next layer comes from the format its parent records', () => {
  const info = (backingFile: string | null, backingFormat: string | null): ImageInfo => ({
    virtualSize: 1,
    actualSize: 1,
    format: 'qcow2',
    backingFile,
    backingFormat,
  });
  const top = qcow2('/images/vm/disk.virtdr-x.qcow2');

  it('ends at a layer without backing, and resolves a relative backing against the layer\'s folder', () => {
    expect(backingLayer(top, info(null, null))).toBeNull();
    expect(backingLayer(top, info('disk.qcow2', 'qcow2'))).toEqual(qcow2('/images/vm/disk.qcow2'));
    expect(backingLayer(top, info('/images/_base/abc', 'raw'))).toEqual(raw('/images/_base/abc'));
  });

  it('refuses a backing file recorded without its format: it would be probed', () => {
    expect(() => backingLayer(top, info('/images/vm/disk.raw', null))).toThrow(UnsupportedDisk);
    expect(() => backingLayer(top, info('/images/vm/disk.raw', null))).toThrow('without its format');
  });

  it('refuses other formats and anything that is not a local file', () => {
    expect(() => backingLayer(top, info('/images/a.vmdk', 'vmdk'))).toThrow('only qcow2 and raw');
    expect(() => backingLayer(top, info('json:{"driver":"raw","file":{"driver":"file","filename":"/etc/shadow"}}', 'raw'))).toThrow('not a local file');
    expect(() => backingLayer(top, info('nbd://host:10809/x', 'raw'))).toThrow('not a local file');
  });
});
