import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { tierPlaces } from '../../src/backup/placement.js';
import { backupOperation } from '../../src/backup/backup-operation.js';
import type { ChainRecordStore } from '../../src/backup/snapshot/chain-record.js';
import { freezeMayLinger, type SnapshotRecord } from '../../src/backup/snapshot/journal-record.js';
import type { JobRecord } from '../../src/jobs/job.js';
import type { Hypervisor } from '../../src/libvirt/hypervisor.js';
import type { FileRepository } from '../../src/repo/file-repository.js';
import { recordingDomain } from '../support/recording-domain.js';

const UUID = '0b5c3f5e-0000-4000-8000-000000000002';
const log = pino({ level: 'silent' });

const repo = { hasPoint: async () => false, discardPartial: async () => undefined } as unknown as FileRepository;
const chains = { save: async () => undefined } as unknown as ChainRecordStore;

function checkpoint(overrides: Partial<SnapshotRecord>): SnapshotRecord {
  return {
    engine: 'snapshot',
    phase: 'copying',
    domain_uuid: UUID,
    backup_id: '20261124T000000000Z-abcdef',
    stopped_by: null,
    freeze_requested: false,
    disks: [],
    ...overrides,
  };
}

/** Every tier on the one repository, unbounded: the built-in policy. */
const everyTierOn = (target: string) => ({ fast: { target, capacity: null }, slow: null, manual: { target, capacity: null } });

describe('backup recovery after a crash', () => {
  function recoverWith(cp: SnapshotRecord) {
    const { domain, calls } = recordingDomain({ uuid: UUID });
    const watched: string[] = [];
    const hypervisor = {
      openSession: async () => ({ lookup: async () => domain, close: async () => undefined }),
    } as unknown as Hypervisor;
    const operation = backupOperation({
      hypervisor,
      places: tierPlaces([repo], async () => ({ tiers: everyTierOn(repo.name), chain_length: 0 })),
      chains,
      settings: {
        freezeTimeoutSeconds: 1,
        thawTimeoutSeconds: 1,
        bandwidthBytesPerSecond: 0,
        host: 'h',
        thawGuard: { watch: (uuid) => void watched.push(uuid) },
      },
      defaultEngine: 'auto',
    });
    const job = { job_id: 'j', domain_uuid: UUID, checkpoint: cp } as unknown as JobRecord;
    return { run: () => operation.recover(job, log), calls, watched };
  }

  it('hands a guest paused after a failed freeze (auto fallback) to the thaw guard', async () => {
    const r = recoverWith(checkpoint({ stopped_by: 'suspend', freeze_requested: true }));
    await r.run();
    expect(r.watched).toEqual([UUID]);
  });

  it('thaws a guest left frozen, and hands it to the thaw guard too', async () => {
    const r = recoverWith(checkpoint({ stopped_by: 'agent', freeze_requested: true }));
    await r.run();
    expect(r.calls).toEqual(['thaw']);
    expect(r.watched).toEqual([UUID]);
  });

  it('does not involve the guest agent when no freeze was asked for (also journals from before the flag)', async () => {
    for (const cp of [checkpoint({ stopped_by: 'suspend' }), checkpoint({ stopped_by: null, freeze_requested: false })]) {
      const r = recoverWith(cp);
      await r.run();
      expect(r.calls).toEqual([]);
      expect(r.watched).toEqual([]);
    }
  });
});

describe('freezeMayLinger', () => {
  it('is true whenever a guest-agent freeze was asked for', () => {
    expect(freezeMayLinger(checkpoint({ stopped_by: 'agent' }))).toBe(true);
    expect(freezeMayLinger(checkpoint({ stopped_by: 'suspend', freeze_requested: true }))).toBe(true);
    expect(freezeMayLinger(checkpoint({ stopped_by: 'suspend' }))).toBe(false);
    expect(freezeMayLinger(checkpoint({ stopped_by: null }))).toBe(false);
  });
});
