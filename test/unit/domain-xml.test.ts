import { describe, expect, it } from 'vitest';
import { hasGuestAgentChannel, parseDomainDisks } from '../../src/libvirt/domain-xml.js';

const xml = `<domain type='qemu'><name>vm</name><uuid>0b5c3f5e-0000-4000-8000-000000000001</uuid>
<devices>
  <disk type='file' device='disk'>
    <driver name='qemu' type='qcow2'/>
    <source file='/images/vm.virtdr-x.qcow2' index='2'/>
    <backingStore type='file' index='1'>
      <format type='qcow2'/>
      <source file='/images/vm.qcow2'/>
      <backingStore/>
    </backingStore>
    <target dev='vda' bus='virtio'/>
  </disk>
  <disk type='file' device='cdrom'>
    <driver name='qemu' type='raw'/>
    <target dev='sda' bus='sata'/>
    <readonly/>
  </disk>
  <disk type='network' device='disk'>
    <driver name='qemu' type='raw'/>
    <source protocol='rbd' name='pool/img'/>
    <target dev='vdb' bus='virtio'/>
  </disk>
</devices></domain>`;

describe('parseDomainDisks', () => {
  it('reads each disk with its whole backing chain', () => {
    const disks = parseDomainDisks(xml);
    expect(disks).toHaveLength(3);
    expect(disks[0]).toEqual({
      target: 'vda',
      type: 'file',
      device: 'disk',
      readonly: false,
      source: { file: '/images/vm.virtdr-x.qcow2', format: 'qcow2' },
      backing: [{ file: '/images/vm.qcow2', format: 'qcow2' }],
    });
    expect(disks[1]).toMatchObject({ target: 'sda', device: 'cdrom', readonly: true, source: { file: null } });
    expect(disks[2]).toMatchObject({ target: 'vdb', type: 'network', source: { file: null } });
  });

  it('handles a domain with a single disk and no devices', () => {
    expect(parseDomainDisks('<domain><devices></devices></domain>')).toEqual([]);
  });
});

describe('hasGuestAgentChannel', () => {
  it('finds the org.qemu.guest_agent.0 channel among others', () => {
    const withAgent = `<domain><devices>
      <channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0'/></channel>
      <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    </devices></domain>`;
    expect(hasGuestAgentChannel(withAgent)).toBe(true);
    expect(hasGuestAgentChannel(xml)).toBe(false);
  });
});
