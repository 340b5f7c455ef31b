/**
 * The restored domain's XML (src/restore/restore-xml.ts), from the live XML a point keeps:
 * the test guest's as `virsh dumpxml` printed it, a Nova instance's, and hostile ones.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { InvalidArgument, PointCorrupt } from '../../src/errors.js';
import { restoredDomainXml, type RestoredDomainOptions } from '../../src/restore/restore-xml.js';
import {
  childElements,
  descendants,
  firstChild,
  getAttr,
  parseXmlTree,
  tagOf,
  textOf,
  type XmlNode,
} from '../../src/util/xml-tree.js';

const fixture = (name: string) => readFileSync(path.join(import.meta.dirname, 'fixtures', 'restore', name), 'utf8');
/** Captured with `virsh dumpxml` from a running test guest (test/support/guest.ts). */
const TEST_GUEST = fixture('test-guest-live.xml');
/** A Nova instance's live XML: metadata, SMBIOS sysinfo, a tap interface, file and pty consoles, a config drive. */
const NOVA = fixture('nova-live.xml');
const NOVA_DIR = '/var/lib/nova/instances/6f0e4b0a-3c51-4f7e-9d2a-8c1b5e0f4a21';

const NEW = { kind: 'new', name: 'restored-copy', uuid: '0d8e1f62-6a4b-4c1e-9f3a-2b7c5d9e1a40', folder: '/var/lib/restored/copy' } as const;
const SAME = { kind: 'same' } as const;

/** The restored XML as a tree, checked well-formed first. */
function restored(xml: string, options: RestoredDomainOptions): { xml: string; domain: XmlNode } {
  const out = restoredDomainXml(xml, options);
  expect(XMLValidator.validate(out)).toBe(true);
  const domain = parseXmlTree(out).find((n) => tagOf(n) === 'domain');
  if (!domain) throw new Error('no <domain> in the output');
  return { xml: out, domain };
}

const devices = (domain: XmlNode) => firstChild(domain, 'devices')!;
const text = (domain: XmlNode, tag: string) => textOf(firstChild(domain, tag)!);

function disk(domain: XmlNode, target: string): XmlNode {
  const found = childElements(devices(domain), 'disk').find((d) => getAttr(firstChild(d, 'target')!, 'dev') === target);
  if (!found) throw new Error(`no disk ${target}`);
  return found;
}

/** A disk's files and formats: the active layer, then each backing layer. */
function chain(d: XmlNode): { file: string | undefined; format: string | undefined }[] {
  const layers = [{ file: getAttr(firstChild(d, 'source')!, 'file'), format: getAttr(firstChild(d, 'driver')!, 'type') }];
  for (let store = firstChild(d, 'backingStore'); store && firstChild(store, 'source'); store = firstChild(store, 'backingStore')) {
    layers.push({ file: getAttr(firstChild(store, 'source')!, 'file'), format: getAttr(firstChild(store, 'format')!, 'type') });
  }
  return layers;
}

const attrsOf = (domain: XmlNode, tag: string, attr: string) =>
  descendants(domain, tag).map((n) => getAttr(n, attr)).filter((v) => v !== undefined);

describe('restoredDomainXml on the test guest', () => {
  it('puts the disk on its restored file and takes out what only the running domain had', () => {
    const { domain } = restored(TEST_GUEST, { disks: [{ target: 'vda', file: '/images/vda.qcow2', format: 'qcow2' }], identity: SAME });
    expect(getAttr(domain, 'id')).toBeUndefined();
    expect(chain(disk(domain, 'vda'))).toEqual([{ file: '/images/vda.qcow2', format: 'qcow2' }]);
    expect(firstChild(disk(domain, 'vda'), 'backingStore')).toBeUndefined();
    expect(descendants(domain, 'alias')).toEqual([]);
    expect(attrsOf(domain, 'source', 'index')).toEqual([]);
    const channel = firstChild(devices(domain), 'channel')!;
    expect(getAttr(firstChild(channel, 'source')!, 'path')).toBeUndefined();
    expect(getAttr(firstChild(channel, 'target')!, 'state')).toBeUndefined();
    const seclabel = firstChild(domain, 'seclabel')!;
    expect([getAttr(seclabel, 'type'), childElements(seclabel)]).toEqual(['dynamic', []]);
  });

  it('keeps the identity and everything else as it was', () => {
    const { domain } = restored(TEST_GUEST, { disks: [{ target: 'vda', file: '/images/vda.qcow2', format: 'qcow2' }], identity: SAME });
    expect(text(domain, 'name')).toBe('vdr-nr-probe');
    expect(text(domain, 'uuid')).toBe('5da8300c-06e5-44b4-bfe2-5072a2a6fe39');
    expect(attrsOf(domain, 'source', 'path')).toEqual([
      '/var/lib/libvirt/images/virt-dr-test/guests/vdr-nr-probe/console.log',
      '/var/lib/libvirt/images/virt-dr-test/guests/vdr-nr-probe/console.log',
    ]);
    expect(text(firstChild(domain, 'os')!, 'cmdline')).toBe('console=ttyS0 quiet');
    expect(getAttr(disk(domain, 'vda'), 'type')).toBe('file');
    expect(getAttr(firstChild(disk(domain, 'vda'), 'address')!, 'slot')).toBe('0x03');
  });

  it('as a new domain: its name and UUID, and its console log in its own folder', () => {
    const { domain } = restored(TEST_GUEST, { disks: [{ target: 'vda', file: '/images/copy.qcow2', format: 'qcow2' }], identity: NEW });
    expect([text(domain, 'name'), text(domain, 'uuid')]).toEqual([NEW.name, NEW.uuid]);
    // The serial port and its console share one log, as they did.
    expect(attrsOf(domain, 'source', 'path')).toEqual([`${NEW.folder}/console.log`, `${NEW.folder}/console.log`]);
  });

  it('spells out an instant restore\'s backing chain, formats named, never relabelled', () => {
    const backing = [
      { file: '/repo/d/20261124T022305123Z-3fa9c2/vda.qcow2', format: 'qcow2' as const },
      { file: '/repo/d/20261123T022305123Z-1a2b3c/vda.qcow2', format: 'qcow2' as const },
    ];
    const { domain } = restored(TEST_GUEST, { disks: [{ target: 'vda', file: '/images/vda.qcow2', format: 'qcow2', backing }], identity: SAME });
    expect(chain(disk(domain, 'vda'))).toEqual([{ file: '/images/vda.qcow2', format: 'qcow2' }, ...backing]);
    const stores = descendants(disk(domain, 'vda'), 'backingStore');
    expect(stores.map((s) => getAttr(s, 'type') ?? 'end')).toEqual(['file', 'file', 'end']);
    const labels = descendants(disk(domain, 'vda'), 'seclabel');
    expect(labels.map((l) => [getAttr(l, 'model'), getAttr(l, 'relabel')])).toEqual([['dac', 'no'], ['dac', 'no']]);
  });
});

describe('restoredDomainXml on a Nova instance', () => {
  const restoreAll = { disks: [{ target: 'vda', file: '/images/disk', format: 'qcow2' as const }, { target: 'vdb', file: '/images/disk.eph0', format: 'raw' as const }] };

  it('as a new domain claims nothing of the original: no metadata, no SMBIOS identity, new MAC, no tap name', () => {
    const { domain, xml } = restored(NOVA, { ...restoreAll, identity: NEW });
    expect(firstChild(domain, 'metadata')).toBeUndefined();
    expect(firstChild(domain, 'sysinfo')).toBeUndefined();
    expect(firstChild(firstChild(domain, 'os')!, 'smbios')).toBeUndefined();
    expect(xml).not.toContain('openstack.org');
    expect(xml).not.toContain('6f0e4b0a-3c51-4f7e-9d2a-8c1b5e0f4a21/console');
    const iface = firstChild(devices(domain), 'interface')!;
    const mac = getAttr(firstChild(iface, 'mac')!, 'address');
    expect(mac).toMatch(/^52:54:00(:[0-9a-f]{2}){3}$/);
    expect(firstChild(iface, 'target')).toBeUndefined();
    expect(getAttr(firstChild(iface, 'source')!, 'bridge')).toBe('qbr9b2c4d6e-8f');
  });

  it('moves the file console and the pty log into the new folder, the pty itself to be allocated', () => {
    const { domain } = restored(NOVA, { ...restoreAll, identity: NEW });
    const [fileSerial, ptySerial] = childElements(devices(domain), 'serial');
    expect(getAttr(firstChild(fileSerial!, 'source')!, 'path')).toBe(`${NEW.folder}/console.log`);
    expect(firstChild(ptySerial!, 'source')).toBeUndefined();
    expect(getAttr(firstChild(ptySerial!, 'log')!, 'file')).toBe(`${NEW.folder}/console.1.log`);
    expect(getAttr(firstChild(ptySerial!, 'log')!, 'append')).toBe('off');
    expect(getAttr(firstChild(firstChild(devices(domain), 'console')!, 'source')!, 'path')).toBe(`${NEW.folder}/console.log`);
  });

  it('restores every disk listed, leaves the read-only config drive, lets the graphics port be allocated again', () => {
    const { domain } = restored(NOVA, { ...restoreAll, identity: NEW });
    expect(chain(disk(domain, 'vda'))).toEqual([{ file: '/images/disk', format: 'qcow2' }]);
    expect(chain(disk(domain, 'vdb'))).toEqual([{ file: '/images/disk.eph0', format: 'raw' }]);
    expect(getAttr(firstChild(disk(domain, 'vdb'), 'driver')!, 'cache')).toBe('none');
    expect(chain(disk(domain, 'hda'))).toEqual([{ file: `${NOVA_DIR}/disk.config`, format: 'raw' }]);
    const graphics = firstChild(devices(domain), 'graphics')!;
    expect([getAttr(graphics, 'port'), getAttr(graphics, 'autoport'), getAttr(graphics, 'listen')]).toEqual([undefined, 'yes', '127.0.0.1']);
  });

  it("refuses a new domain that would write the original's image, unless that disk is left out", () => {
    const onlyVda = { disks: [{ target: 'vda', file: '/images/disk', format: 'qcow2' as const }] };
    expect(() => restoredDomainXml(NOVA, { ...onlyVda, identity: NEW })).toThrow(InvalidArgument);
    const { domain } = restored(NOVA, { ...onlyVda, identity: NEW, omitDisks: ['vdb'] });
    expect(childElements(devices(domain), 'disk').map((d) => getAttr(firstChild(d, 'target')!, 'dev'))).toEqual(['vda', 'hda']);
    // In place, a disk not restored stays as it is.
    const same = restored(NOVA, { ...onlyVda, identity: SAME });
    expect(chain(disk(same.domain, 'vdb'))[0]).toEqual({ file: `${NOVA_DIR}/disk.eph0`, format: 'qcow2' });
  });

  it('in place keeps Nova\'s metadata, SMBIOS, MAC and tap name, byte for byte', () => {
    const { domain, xml } = restored(NOVA, { ...restoreAll, identity: SAME });
    expect(xml).toContain('<nova:name>db-primary &amp; friends</nova:name>');
    expect(xml).toContain('<nova:root type="image" uuid="1d6e2b3c-5f4a-4b7e-8c9d-0e1f2a3b4c5d"/>');
    expect(descendants(firstChild(domain, 'sysinfo')!, 'entry').map(textOf)).toContain('6f0e4b0a-3c51-4f7e-9d2a-8c1b5e0f4a21');
    const iface = firstChild(devices(domain), 'interface')!;
    expect(getAttr(firstChild(iface, 'mac')!, 'address')).toBe('fa:16:3e:4c:2d:81');
    expect(getAttr(firstChild(iface, 'target')!, 'dev')).toBe('tap9b2c4d6e-8f');
    expect(descendants(domain, 'alias')).toEqual([]);
  });
});

describe('restoredDomainXml on other live-only values', () => {
  const xml = (devicesXml: string, extra = '') =>
    `<domain type='kvm' id='3'><name>vm</name><uuid>0b5c3f5e-0000-4000-8000-000000000001</uuid>${extra}<devices>${devicesXml}</devices></domain>`;
  const none = { disks: [], identity: SAME };

  it('drops pty paths, generated tap names, network ports, graphics ports; keeps user aliases', () => {
    const { domain } = restored(
      xml(`<console type='pty' tty='/dev/pts/2'><source path='/dev/pts/2'/><target type='serial' port='0'/><alias name='serial0'/></console>
        <interface type='network'><mac address='52:54:00:aa:bb:cc'/><source network='default' portid='8d2e' bridge='virbr0'/><target dev='vnet3'/><alias name='ua-net'/></interface>
        <graphics type='spice' port='5901' tlsPort='5902' autoport='yes' websocket='5700'><listen type='address' address='0.0.0.0' fromConfig='1' autoGenerated='no'/></graphics>
        <graphics type='vnc' port='5910' autoport='no'/>`),
      none,
    );
    const console = firstChild(devices(domain), 'console')!;
    expect([getAttr(console, 'tty'), firstChild(console, 'source')]).toEqual([undefined, undefined]);
    const iface = firstChild(devices(domain), 'interface')!;
    expect(firstChild(iface, 'target')).toBeUndefined();
    expect(firstChild(iface, 'source')![':@']).toEqual({ network: 'default' });
    expect(getAttr(firstChild(iface, 'alias')!, 'name')).toBe('ua-net');
    const [spice, vnc] = childElements(devices(domain), 'graphics');
    expect(spice![':@']).toEqual({ type: 'spice', autoport: 'yes', websocket: '-1' });
    expect(firstChild(spice!, 'listen')![':@']).toEqual({ type: 'address', address: '0.0.0.0' });
    expect(getAttr(vnc!, 'port')).toBe('5910');
  });

  it('turns a block disk into a file disk and drops a block job mirror', () => {
    const { domain } = restored(
      xml(`<disk type='block' device='disk'><driver name='qemu' type='raw' io='native'/><source dev='/dev/vg/lv' index='1'/><mirror type='file' job='copy'><source file='/x'/></mirror><target dev='vdc'/></disk>`),
      { disks: [{ target: 'vdc', file: '/images/vdc.qcow2', format: 'qcow2' }], identity: SAME },
    );
    const vdc = disk(domain, 'vdc');
    expect(getAttr(vdc, 'type')).toBe('file');
    expect(firstChild(vdc, 'source')![':@']).toEqual({ file: '/images/vdc.qcow2' });
    expect(firstChild(vdc, 'mirror')).toBeUndefined();
    expect(firstChild(vdc, 'driver')![':@']).toEqual({ name: 'qemu', type: 'qcow2', io: 'native' });
  });

  it('adds a driver where the disk had none', () => {
    const { domain } = restored(xml(`<disk type='file' device='disk'><source file='/a.img'/><target dev='vda'/></disk>`), {
      disks: [{ target: 'vda', file: '/b.qcow2', format: 'qcow2' }],
      identity: SAME,
    });
    expect(firstChild(disk(domain, 'vda'), 'driver')![':@']).toEqual({ name: 'qemu', type: 'qcow2' });
  });

  it('gives every interface of a new domain its own fresh MAC, none of the original ones', () => {
    const original = ['52:54:00:00:00:01', '52:54:00:00:00:02', 'fa:16:3e:00:00:03'];
    const { domain } = restored(xml(original.map((m) => `<interface type='user'><mac address='${m}'/></interface>`).join('') + `<interface type='user'/>`), {
      disks: [],
      identity: NEW,
    });
    const macs = attrsOf(domain, 'mac', 'address');
    expect(macs).toHaveLength(4);
    expect(new Set(macs).size).toBe(4);
    for (const mac of macs) expect(original).not.toContain(mac);
  });

  it('renews the VM generation ID; a new domain gets its own NVRAM file and sockets', () => {
    const os = `<os><type>hvm</type><loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader><nvram template='/usr/share/OVMF/OVMF_VARS.fd'>/var/lib/libvirt/qemu/nvram/vm_VARS.fd</nvram></os>`;
    const devicesXml = `<channel type='unix'><source mode='bind' path='/run/vm/mon.sock'/><target type='virtio' name='org.example.mon'/></channel>`;
    const same = restored(xml(devicesXml, `<genid>43dc0cf8-809b-4adb-9bea-a9abb5f3d90d</genid>${os}`), none);
    expect(textOf(firstChild(same.domain, 'genid')!)).toBe('');
    expect(textOf(firstChild(firstChild(same.domain, 'os')!, 'nvram')!)).toBe('/var/lib/libvirt/qemu/nvram/vm_VARS.fd');
    const copy = restored(xml(devicesXml, os), { disks: [], identity: NEW });
    const nvram = firstChild(firstChild(copy.domain, 'os')!, 'nvram')!;
    expect([textOf(nvram), getAttr(nvram, 'template')]).toEqual(['', '/usr/share/OVMF/OVMF_VARS.fd']);
    expect(attrsOf(copy.domain, 'source', 'path')).toEqual([`${NEW.folder}/mon.sock`]);
  });

  it('gives two files of one name two names in the new folder', () => {
    const devicesXml = ['/a/console.log', '/b/console.log', '/a/console.log']
      .map((p, i) => `<serial type='file'><source path='${p}'/><target port='${i}'/></serial>`)
      .join('');
    const { domain } = restored(xml(devicesXml), { disks: [], identity: NEW });
    expect(attrsOf(domain, 'source', 'path')).toEqual([`${NEW.folder}/console.log`, `${NEW.folder}/console-2.log`, `${NEW.folder}/console.log`]);
  });
});

describe('restoredDomainXml with hostile values', () => {
  const HOSTILE_POINT = `<domain type='kvm'><name>a&amp;b&lt;c&quot;d&apos;e</name><uuid>0b5c3f5e-0000-4000-8000-000000000001</uuid>
    <description>x &gt; y &#38; z &#x3C;tag&#x3E;</description>
    <devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/img/q&apos;&quot;&amp;&lt;.qcow2'/><target dev='vda'/></disk>
    <serial type='file'><source path="/logs/it's &amp; &quot;x&quot;.log"/></serial></devices></domain>`;
  const hostileFile = `/restored/'q"&<>.qcow2`;
  const hostileBacking = `/repo/d/p&1/"v<d>a'.qcow2`;
  const hostileName = `new'"&<>name`;
  const hostileFolder = `/var/lib/x&y/"new'`;

  /** An independent reading (fast-xml-parser decoding every entity) of the output. */
  const independent = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', htmlEntities: true, parseTagValue: false });

  it('keeps what was escaped escaped, and escapes what it writes', () => {
    const out = restoredDomainXml(HOSTILE_POINT, {
      disks: [{ target: 'vda', file: hostileFile, format: 'qcow2', backing: [{ file: hostileBacking, format: 'raw' }] }],
      identity: { kind: 'new', name: hostileName, uuid: NEW.uuid, folder: hostileFolder },
    });
    expect(XMLValidator.validate(out)).toBe(true);
    const doc = independent.parse(out) as {
      domain: { name: string; description: string; devices: { disk: Record<string, Record<string, unknown>>; serial: { source: { path: string } } } };
    };
    expect(doc.domain.name).toBe(hostileName);
    expect(doc.domain.description).toBe('x > y & z <tag>');
    expect(doc.domain.devices.disk.source!.file).toBe(hostileFile);
    expect((doc.domain.devices.disk.backingStore!.source as { file: string }).file).toBe(hostileBacking);
    expect(doc.domain.devices.serial.source.path).toBe(`${hostileFolder}/it's & "x".log`);
    // Untouched text keeps its escaping byte for byte.
    expect(out).toContain('<description>x &gt; y &#38; z &#x3C;tag&#x3E;</description>');
  });

  it('in place, leaves the hostile name and path as they were', () => {
    const { domain } = restored(HOSTILE_POINT, { disks: [], identity: SAME });
    expect(text(domain, 'name')).toBe(`a&b<c"d'e`);
    expect(chain(disk(domain, 'vda'))[0]!.file).toBe(`/img/q'"&<.qcow2`);
  });
});

describe('restoredDomainXml refuses', () => {
  const vda = { target: 'vda', file: '/images/vda.qcow2', format: 'qcow2' as const };

  it('a point whose XML is not a domain, or lacks a disk named (PointCorrupt)', () => {
    expect(() => restoredDomainXml('<domain><name>x</name>', { disks: [], identity: SAME })).toThrow(PointCorrupt);
    expect(() => restoredDomainXml('<network><name>x</name></network>', { disks: [], identity: SAME })).toThrow(PointCorrupt);
    expect(() => restoredDomainXml(TEST_GUEST, { disks: [{ ...vda, target: 'vdz' }], identity: SAME })).toThrow(/no disk vdz/);
    expect(() => restoredDomainXml(TEST_GUEST, { disks: [], identity: SAME, omitDisks: ['vdz'] })).toThrow(PointCorrupt);
  });

  it('options that cannot describe a domain (InvalidArgument)', () => {
    const refuse = (options: RestoredDomainOptions) => expect(() => restoredDomainXml(TEST_GUEST, options)).toThrow(InvalidArgument);
    refuse({ disks: [{ ...vda, file: 'images/vda.qcow2' }], identity: SAME });
    refuse({ disks: [{ ...vda, backing: [{ file: '../p/vda.qcow2', format: 'qcow2' }] }], identity: SAME });
    refuse({ disks: [{ ...vda, format: 'vmdk' as 'raw' }], identity: SAME });
    refuse({ disks: [vda, vda], identity: SAME });
    refuse({ disks: [vda], identity: SAME, omitDisks: ['vda'] });
    refuse({ disks: [vda], identity: { ...NEW, uuid: 'not-a-uuid' } });
    refuse({ disks: [vda], identity: { ...NEW, name: ' ' } });
    refuse({ disks: [vda], identity: { ...NEW, folder: 'relative/folder' } });
  });
});
