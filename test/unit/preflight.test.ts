import { describe, expect, it } from 'vitest';
import { preflightBackup } from '../../src/backup/preflight.js';
import type { BackupRequest } from '../../src/backup/run-backup.js';
import { DomainNotRunning, EngineNotAllowed, GuestAgentUnavailable, UnsupportedDisk } from '../../src/errors.js';
import type { HypervisorDomain, RunState } from '../../src/libvirt/hypervisor.js';

const fileDisk = `<disk type='file' device='disk'><driver type='qcow2'/><source file='/i/a.qcow2'/><target dev='vda'/></disk>`;
const rbdDisk = `<disk type='network' device='disk'><driver type='raw'/><source protocol='rbd' name='p/i'/><target dev='vdb'/></disk>`;
const agentChannel = `<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>`;

function domain(state: RunState, devices: string): HypervisorDomain {
  return {
    name: 'vm',
    uuid: '0b5c3f5e-0000-4000-8000-000000000001',
    runState: async () => state,
    xml: async () => `<domain><devices>${devices}</devices></domain>`,
  } as unknown as HypervisorDomain;
}
const request: BackupRequest = { mode: 'auto', quiesce: 'auto', kind: 'manual', engine: null, excludeDisks: [] };
const engines = { backupApi: true, defaultEngine: 'auto' } as const;

describe('preflightBackup', () => {
  it('passes a running domain with file disks and returns its XML and engine', async () => {
    await expect(preflightBackup(domain('running', fileDisk), request, engines)).resolves.toMatchObject({
      xml: expect.stringContaining('<domain>'),
      engine: 'checkpoint',
    });
    await expect(preflightBackup(domain('paused', fileDisk), request, engines)).resolves.toBeTruthy();
  });

  it('refuses a domain that is shut off', async () => {
    await expect(preflightBackup(domain('shutoff', fileDisk), request, engines)).rejects.toThrow(DomainNotRunning);
  });

  it('refuses network disks unless they are excluded', async () => {
    await expect(preflightBackup(domain('running', fileDisk + rbdDisk), request, engines)).rejects.toThrow(UnsupportedDisk);
    await expect(preflightBackup(domain('running', fileDisk + rbdDisk), { ...request, excludeDisks: ['vdb'] }, engines)).resolves.toBeTruthy();
  });

  it('refuses quiesce=agent without a guest agent channel', async () => {
    const agentOnly = { ...request, quiesce: 'agent' as const };
    await expect(preflightBackup(domain('running', fileDisk), agentOnly, engines)).rejects.toThrow(GuestAgentUnavailable);
    await expect(preflightBackup(domain('running', fileDisk + agentChannel), agentOnly, engines)).resolves.toBeTruthy();
  });

  it('refuses engine=snapshot on a Nova instance before any job exists, and picks checkpoint for auto', async () => {
    const nova = `<domain><metadata><nova:instance xmlns:nova='http://openstack.org/xmlns/libvirt/nova/1.1'><nova:owner/></nova:instance></metadata><devices>${fileDisk}</devices></domain>`;
    const novaDomain = { ...domain('running', fileDisk), xml: async () => nova } as unknown as HypervisorDomain;
    await expect(preflightBackup(novaDomain, { ...request, engine: 'snapshot' }, engines)).rejects.toThrow(EngineNotAllowed);
    await expect(preflightBackup(novaDomain, request, engines)).resolves.toMatchObject({ engine: 'checkpoint' });
  });
});
