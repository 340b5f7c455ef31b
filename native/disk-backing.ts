/**
 * Whether a disk in a domain's live XML still has a backing file: how a block pull is
 * known to have completed. A pull that fails or is cancelled also just disappears, and
 * one that completed while libvirtd was away leaves no job behind at all, so the chain in
 * the XML is the only record of the outcome.
 */
import { XMLParser } from 'fast-xml-parser';
import { BlockJobError } from './errors.js';

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  isArray: (name) => name === 'disk',
});

type Node = Record<string, unknown>;

function child(node: Node | undefined, name: string): Node | undefined {
  const value = node?.[name];
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Node) : undefined;
}

/**
 * True when the disk with target `disk` (e.g. `vda`) has a backing layer in the live XML
 * (a `<backingStore>` with content; libvirt writes an empty one for a disk without
 * backing). Throws when the domain has no such disk.
 */
export function diskHasBacking(xml: string, disk: string): boolean {
  const devices = child(child(parser.parse(xml) as Node, 'domain'), 'devices');
  const disks = Array.isArray(devices?.disk) ? (devices.disk as Node[]) : [];
  const found = disks.find((d) => child(d, 'target')?.dev === disk);
  if (!found) throw new BlockJobError(`the domain has no disk ${disk}`, disk);
  const store = child(found, 'backingStore');
  return store !== undefined && Object.keys(store).length > 0;
}
