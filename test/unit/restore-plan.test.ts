import { describe, expect, it } from 'vitest';
import { UnsupportedDisk } from '../../src/errors.js';
import type { Manifest } from '../../src/repo/point.js';
import { planRestore } from '../../src/restore/plan.js';

const point = (disks: { target: string; file: string }[]): Manifest =>
  ({
    backup_id: '20261129T050000000Z-abcdef',
    disks: disks.map((d) => ({ ...d, format: 'qcow2', virtual_size: 1 << 30, size: 1, sha256: 'x' })),
  }) as Manifest;

describe('planRestore', () => {
  it('puts each disk of a replace at its owner\'s path, in the owner\'s format, with staged and aside files beside it', () => {
    const plan = planRestore({
      point: point([{ target: 'vda', file: 'vda.qcow2' }, { target: 'vdb', file: 'vdb.qcow2' }]),
      pointDir: '/repo/u/p',
      identity: { kind: 'same', name: 'inst', uuid: 'u' },
      owners: [
        { target: 'vda', file: '/var/lib/nova/instances/u/disk', format: 'qcow2' },
        { target: 'vdb', file: '/var/lib/nova/instances/u/disk.eph0', format: 'raw' },
      ],
      jobTag: 'j1',
    });
    expect(plan.disks).toEqual([
      expect.objectContaining({
        target: 'vda',
        pointFile: '/repo/u/p/vda.qcow2',
        final: '/var/lib/nova/instances/u/disk',
        format: 'qcow2',
        staged: '/var/lib/nova/instances/u/disk.virtdr-restore-j1',
        aside: '/var/lib/nova/instances/u/disk.virtdr-old-j1',
      }),
      expect.objectContaining({ target: 'vdb', final: '/var/lib/nova/instances/u/disk.eph0', format: 'raw' }),
    ]);
  });

  it('gives a new domain one qcow2 per disk in its own folder', () => {
    const plan = planRestore({
      point: point([{ target: 'vda', file: 'vda.qcow2' }]),
      pointDir: '/repo/u/p',
      identity: { kind: 'new', name: 'copy', uuid: 'n', folder: '/images/copy-n' },
      owners: [],
      jobTag: 'j1',
    });
    expect(plan.disks[0]).toMatchObject({ final: '/images/copy-n/vda.qcow2', format: 'qcow2' });
  });

  it('refuses a point disk with no place to go, and two disks sharing one file', () => {
    const base = { pointDir: '/r', identity: { kind: 'same' as const, name: 'd', uuid: 'u' }, jobTag: 't' };
    expect(() => planRestore({ ...base, point: point([{ target: 'vdc', file: 'vdc.qcow2' }]), owners: [] })).toThrow(UnsupportedDisk);
    expect(() =>
      planRestore({
        ...base,
        point: point([{ target: 'vda', file: 'vda.qcow2' }, { target: 'vdb', file: 'vdb.qcow2' }]),
        owners: [
          { target: 'vda', file: '/x', format: 'qcow2' },
          { target: 'vdb', file: '/x', format: 'qcow2' },
        ],
      }),
    ).toThrow('one file');
  });
});
