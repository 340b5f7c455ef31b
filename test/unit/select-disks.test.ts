import { describe, expect, it } from 'vitest';
import { selectDisks } from '../../src/backup/select-disks.js';
import { InvalidArgument, UnsupportedDisk } from '../../src/errors.js';
import type { DomainDisk } from '../../src/libvirt/domain-xml.js';

function d(over: Partial<DomainDisk>): DomainDisk {
  return {
    target: 'vda',
    type: 'file',
    device: 'disk',
    readonly: false,
    source: { file: '/i/a.qcow2', format: 'qcow2' },
    backing: [],
    ...over,
  };
}

describe('selectDisks', () => {
  it('skips cdrom, floppy and read-only disks', () => {
    const disks = [
      d({}),
      d({ target: 'sda', device: 'cdrom', source: { file: null, format: 'raw' } }),
      d({ target: 'fda', device: 'floppy' }),
      d({ target: 'vdc', readonly: true }),
    ];
    expect(selectDisks(disks, []).map((x) => x.target)).toEqual(['vda']);
  });

  it('refuses block and network disks loudly unless excluded', () => {
    const disks = [d({}), d({ target: 'vdb', type: 'block', source: { file: null, format: 'raw' } })];
    expect(() => selectDisks(disks, [])).toThrow(UnsupportedDisk);
    expect(selectDisks(disks, ['vdb']).map((x) => x.target)).toEqual(['vda']);
  });

  it('refuses an exclude list naming unknown disks, and a domain left with none', () => {
    expect(() => selectDisks([d({})], ['vdz'])).toThrow(InvalidArgument);
    expect(() => selectDisks([d({})], ['vda'])).toThrow(/no disk/);
  });

  it('refuses formats it cannot chain', () => {
    expect(() => selectDisks([d({ source: { file: '/x.vmdk', format: 'vmdk' } })], [])).toThrow(UnsupportedDisk);
  });
});
