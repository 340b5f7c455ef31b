import { describe, expect, it } from 'vitest';
import { isAgentOverlay, overlayPath, planBackup } from '../../src/backup/snapshot/plan.js';
import type { BackupDisk } from '../../src/backup/select-disks.js';
import { ChainMismatch } from '../../src/errors.js';

const ID = '20261124T010203000Z-abcdef';
const PREV = '20261123T010203000Z-123456';
const base = '/images/vm.qcow2';
const ours = `/images/vm.virtdr-${PREV}.qcow2`;

function disk(file: string, backing: string[] = []): BackupDisk {
  return { target: 'vda', file, format: 'qcow2', backing: backing.map((f) => ({ file: f, format: 'qcow2' })) };
}
const chain = { domain_uuid: 'u', last_backup_id: PREV, disks: { vda: { overlay: ours, base } } };
const latestPoint = { backup_id: PREV, disks: [{ target: 'vda', file: 'vda.qcow2', format: 'qcow2' }] };

describe('planBackup', () => {
  it('takes a full of a plain file on the first backup and commits nothing', () => {
    const plan = planBackup({ backupId: ID, requested: 'auto', disks: [disk(base)], chain: null, latestPoint: null });
    expect(plan.mode).toBe('full');
    expect(plan.parent).toBeNull();
    expect(plan.disks[0]).toMatchObject({ copy: 'file', frozen: base, commit: null, pointFile: 'vda.qcow2' });
    expect(plan.disks[0]?.overlay).toBe(`/images/vm.virtdr-${ID}.qcow2`);
  });

  it('flattens a first full when the disk has a backing file (an OpenStack _base image)', () => {
    const plan = planBackup({ backupId: ID, requested: 'auto', disks: [disk(base, ['/_base/img'])], chain: null, latestPoint: null });
    expect(plan.disks[0]?.copy).toBe('flatten');
    expect(plan.disks[0]?.commit).toBeNull();
  });

  it('copies only the agent overlay as an incremental, then commits it into the base', () => {
    const plan = planBackup({ backupId: ID, requested: 'auto', disks: [disk(ours, [base])], chain, latestPoint });
    expect(plan.mode).toBe('incremental');
    expect(plan.parent).toBe(PREV);
    expect(plan.disks[0]).toMatchObject({ copy: 'delta', frozen: ours, commit: { top: ours, base } });
  });

  it('takes a full on request but still merges the agent overlay', () => {
    const plan = planBackup({ backupId: ID, requested: 'full', disks: [disk(ours, [base])], chain, latestPoint });
    expect(plan.mode).toBe('full');
    expect(plan.disks[0]).toMatchObject({ copy: 'flatten', commit: { top: ours, base } });
  });

  it('never commits a layer the agent did not make (an operator snapshot on top)', () => {
    const foreign = '/images/vm.operator-snap.qcow2';
    const plan = planBackup({ backupId: ID, requested: 'auto', disks: [disk(foreign, [ours, base])], chain, latestPoint });
    expect(plan.mode).toBe('full');
    expect(plan.reason).toMatch(/not the agent's overlay/);
    expect(plan.disks[0]?.commit).toBeNull();
  });

  it('refuses mode=incremental when the chain does not allow one', () => {
    expect(() => planBackup({ backupId: ID, requested: 'incremental', disks: [disk(base)], chain: null, latestPoint: null })).toThrow(
      ChainMismatch,
    );
  });

  it('falls back to a full when the newest point is not the one the overlay follows', () => {
    const plan = planBackup({
      backupId: ID,
      requested: 'auto',
      disks: [disk(ours, [base])],
      chain,
      latestPoint: { ...latestPoint, backup_id: '20261123T000000000Z-000000' },
    });
    expect(plan.mode).toBe('full');
  });
});

describe('overlay names', () => {
  it('replaces an earlier agent suffix instead of stacking suffixes', () => {
    expect(overlayPath(ours, ID)).toBe(`/images/vm.virtdr-${ID}.qcow2`);
    expect(isAgentOverlay(overlayPath(base, ID))).toBe(true);
    expect(isAgentOverlay(base)).toBe(false);
  });
});

describe('backup ids', () => {
  it('sort by time to the millisecond, whatever their random tails', async () => {
    const { newBackupId, isBackupId } = await import('../../src/util/ids.js');
    const base = Date.parse('2026-11-24T02:23:05.000Z');
    const ids = Array.from({ length: 50 }, (_, i) => newBackupId(new Date(base + i * 7)));
    expect(ids.every(isBackupId)).toBe(true);
    expect([...ids].sort()).toEqual(ids);
    expect(isBackupId('../20261124T022305000Z-abcdef')).toBe(false);
  });

  it('starts the chain anew when told why (its length, a manual point), unless an incremental is asked for', () => {
    const plan = planBackup({ backupId: ID, requested: 'auto', disks: [disk(ours, [base])], chain, latestPoint, fullBecause: 'chain_length 3 reached' });
    expect(plan).toMatchObject({ mode: 'full', parent: null, reason: 'chain_length 3 reached' });
    const asked = planBackup({ backupId: ID, requested: 'incremental', disks: [disk(ours, [base])], chain, latestPoint, fullBecause: 'chain_length 3 reached' });
    expect(asked.mode).toBe('incremental');
  });
});
