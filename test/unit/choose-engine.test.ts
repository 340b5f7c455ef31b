import { describe, expect, it } from 'vitest';
import { chooseEngine, type EngineFacts } from '../../src/backup/choose-engine.js';
import { EngineNotAllowed, EngineUnavailable } from '../../src/errors.js';
import { imageOwnerUid, isNovaInstance } from '../../src/libvirt/domain-xml.js';

const qcow2 = { target: 'vda', file: '/i/a.qcow2', format: 'qcow2' as const, backing: [] };
const raw = { target: 'vdb', file: '/i/b.img', format: 'raw' as const, backing: [] };
const facts = (over: Partial<EngineFacts> = {}): EngineFacts => ({
  domainName: 'vm',
  backupApi: true,
  novaInstance: false,
  disks: [qcow2],
  ...over,
});

describe('chooseEngine', () => {
  it('auto: checkpoint with the backup API and qcow2 disks, else snapshot', () => {
    expect(chooseEngine('auto', facts())).toBe('checkpoint');
    expect(chooseEngine('auto', facts({ disks: [qcow2, raw] }))).toBe('snapshot');
    expect(chooseEngine('auto', facts({ backupApi: false }))).toBe('snapshot');
  });

  it('auto on a Nova instance: checkpoint even with raw disks, and nothing without the backup API', () => {
    expect(chooseEngine('auto', facts({ novaInstance: true, disks: [raw] }))).toBe('checkpoint');
    expect(() => chooseEngine('auto', facts({ novaInstance: true, backupApi: false }))).toThrow(EngineUnavailable);
  });

  it('refuses the snapshot engine on a Nova instance, and the checkpoint engine without the API', () => {
    expect(() => chooseEngine('snapshot', facts({ novaInstance: true }))).toThrow(EngineNotAllowed);
    expect(chooseEngine('snapshot', facts())).toBe('snapshot');
    expect(() => chooseEngine('checkpoint', facts({ backupApi: false }))).toThrow(EngineUnavailable);
    expect(chooseEngine('checkpoint', facts({ disks: [raw] }))).toBe('checkpoint');
  });
});

describe('domain XML facts', () => {
  it("recognises Nova's metadata by its namespace, whatever the prefix", () => {
    const nova = (ns: string, prefix = 'nova') =>
      `<domain><metadata><${prefix}:instance xmlns:${prefix}='${ns}'><${prefix}:owner/></${prefix}:instance></metadata></domain>`;
    expect(isNovaInstance(nova('http://openstack.org/xmlns/libvirt/nova/1.1'))).toBe(true);
    expect(isNovaInstance(nova('http://openstack.org/xmlns/libvirt/nova/1.0', 'n'))).toBe(true);
    expect(isNovaInstance(nova('http://example.org/other'))).toBe(false);
    expect(isNovaInstance('<domain><name>vm</name></domain>')).toBe(false);
  });

  it("reads the uid QEMU opens images as from the DAC label", () => {
    const live = (labels: string) => `<domain><devices/>${labels}</domain>`;
    expect(imageOwnerUid(live(`<seclabel type='dynamic' model='dac' relabel='yes'><label>+64055:+64055</label><imagelabel>+64055:+994</imagelabel></seclabel>`))).toBe(64055);
    expect(
      imageOwnerUid(live(`<seclabel type='dynamic' model='apparmor'><label>libvirt-x</label></seclabel><seclabel type='dynamic' model='dac'><imagelabel>+107:+107</imagelabel></seclabel>`)),
    ).toBe(107);
    expect(imageOwnerUid(live(''))).toBeNull();
  });
});
