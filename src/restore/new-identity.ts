import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { PointCorrupt } from '../errors.js';
import {
  childElements,
  descendants,
  element,
  firstChild,
  getAttr,
  insertChild,
  removeChildren,
  setAttr,
  setText,
  hasAttributes,
  type XmlNode,
} from '../util/xml-tree.js';
import { CHARDEV_TAGS, isTag } from './live-state.js';

export interface NewIdentity {
  name: string;
  uuid: string;
  /** An absolute folder of the new domain's own, for the files its devices write. */
  folder: string;
}

/**
 * Makes a domain's XML describe a second domain that can run beside the original: its
 * own name and UUID, fresh MAC addresses, no tap device names and no NVRAM file of the
 * original's, no metadata and no SMBIOS identity claiming to be the original (Nova's
 * `<metadata>`, and its `<sysinfo>` whose uuid libvirt refuses unless it is the domain's),
 * and every file its character devices write moved into `folder`, so that two domains
 * never write one file or bind one socket.
 */
export function giveNewIdentity(domain: XmlNode, identity: NewIdentity): void {
  setElementText(domain, 'name', identity.name);
  setElementText(domain, 'uuid', identity.uuid);
  removeChildren(domain, (c) => isTag(c, 'metadata') || (isTag(c, 'sysinfo') && isSmbios(c)));
  const os = firstChild(domain, 'os');
  if (os) {
    removeChildren(os, (c) => isTag(c, 'smbios') && getAttr(c, 'mode') === 'sysinfo');
    forgetNvramFile(os);
  }
  const devices = firstChild(domain, 'devices');
  if (!devices) return;
  const macs = freshMacs(domain);
  for (const iface of childElements(devices, 'interface')) {
    removeChildren(iface, (c) => isTag(c, 'target') || isTag(c, 'mac'));
    insertChild(iface, element('mac', { address: macs() }));
  }
  moveChardevFiles(devices, identity.folder);
}

function setElementText(domain: XmlNode, tag: 'name' | 'uuid', value: string): void {
  const node = firstChild(domain, tag);
  if (!node) throw new PointCorrupt(`the point's domain XML has no <${tag}>`);
  setText(node, value);
}

/** Nova writes `<sysinfo type='smbios'>`; libvirt takes a sysinfo without a type as SMBIOS too. */
function isSmbios(sysinfo: XmlNode): boolean {
  const type = getAttr(sysinfo, 'type');
  return type === undefined || type === 'smbios';
}

/**
 * The original's UEFI variables file would be shared: without a path libvirt makes the
 * new domain its own from the template (`<nvram template=…>`, or the firmware's default).
 */
function forgetNvramFile(os: XmlNode): void {
  for (const nvram of childElements(os, 'nvram')) setText(nvram, '');
  removeChildren(os, (c) => isTag(c, 'nvram') && !hasAttributes(c));
}

/** QEMU's prefix 52:54:00 is a locally administered, unicast one. */
const MAC_PREFIX = '52:54:00';

/** A source of random MAC addresses none of which is in the document or was handed out before. */
function freshMacs(domain: XmlNode): () => string {
  const taken = new Set(
    descendants(domain, 'mac')
      .map((mac) => getAttr(mac, 'address')?.toLowerCase())
      .filter((address): address is string => address !== undefined),
  );
  return () => {
    for (;;) {
      const address = [MAC_PREFIX, ...[...randomBytes(3)].map((byte) => byte.toString(16).padStart(2, '0'))].join(':');
      if (!taken.has(address)) {
        taken.add(address);
        return address;
      }
    }
  };
}

/**
 * Every file a character device writes (type 'file', a `<log file>`) and every socket it
 * binds (type 'unix', mode 'bind': the ones libvirt names itself are gone already) gets
 * the same name in `folder`. One original path maps to one new path (a serial port and
 * its console share their log), and two originals with the same name get two names.
 */
function moveChardevFiles(devices: XmlNode, folder: string): void {
  const moved = new Map<string, string>();
  const relocate = (original: string): string => {
    let target = moved.get(original);
    if (target === undefined) {
      const taken = new Set(moved.values());
      const { name, ext } = path.parse(path.basename(original) || 'chardev');
      target = path.join(folder, `${name}${ext}`);
      for (let n = 2; taken.has(target); n++) target = path.join(folder, `${name}-${n}${ext}`);
      moved.set(original, target);
    }
    return target;
  };
  for (const device of CHARDEV_TAGS.flatMap((tag) => childElements(devices, tag))) {
    const type = getAttr(device, 'type');
    const source = firstChild(device, 'source');
    const sourcePath = source ? getAttr(source, 'path') : undefined;
    const writesFile = type === 'file' || (type === 'unix' && getAttr(source ?? {}, 'mode') === 'bind');
    if (source && sourcePath !== undefined && writesFile) setAttr(source, 'path', relocate(sourcePath));
    for (const log of childElements(device, 'log')) {
      const file = getAttr(log, 'file');
      if (file !== undefined) setAttr(log, 'file', relocate(file));
    }
  }
}
