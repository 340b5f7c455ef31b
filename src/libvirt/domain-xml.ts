import { XMLParser } from 'fast-xml-parser';

/** One layer of a disk's backing chain as libvirt reports it in the live domain XML. */
export interface ChainLayer {
  /** The file, or null for storage that is not a file (block, network). */
  file: string | null;
  format: string | null;
}

export interface DomainDisk {
  target: string;
  /** libvirt's disk type: file, block, network, volume, nvme, vhostuser. */
  type: string;
  /** disk, cdrom, floppy, lun. */
  device: string;
  readonly: boolean;
  /** The active layer. */
  source: ChainLayer;
  /** The layers below the active one, nearest first. */
  backing: ChainLayer[];
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  // Elements that may repeat are always arrays, so one disk and five look alike.
  isArray: (name) => name === 'disk' || name === 'channel',
});

type Node = Record<string, unknown>;

/** Reads the disks of a domain from its live XML (virDomainGetXMLDesc). */
export function parseDomainDisks(xml: string): DomainDisk[] {
  const doc = parser.parse(xml) as Node;
  const domain = child(doc, 'domain');
  const devices = domain ? child(domain, 'devices') : null;
  const disks = devices?.disk;
  if (!Array.isArray(disks)) return [];
  return disks.map((raw: Node) => {
    const type = attr(raw, 'type') ?? 'file';
    const target = attr(child(raw, 'target'), 'dev') ?? '';
    return {
      target,
      type,
      device: attr(raw, 'device') ?? 'disk',
      readonly: 'readonly' in raw,
      source: { file: sourceFile(raw, type), format: attr(child(raw, 'driver'), 'type') },
      backing: backingChain(raw),
    };
  });
}

/** True when the domain has a virtio channel for the QEMU guest agent. */
export function hasGuestAgentChannel(xml: string): boolean {
  const devices = child(child(parser.parse(xml) as Node, 'domain'), 'devices');
  const channels = devices?.channel;
  if (!Array.isArray(channels)) return false;
  return channels.some((c: Node) => attr(child(c, 'target'), 'name') === 'org.qemu.guest_agent.0');
}

function backingChain(disk: Node): ChainLayer[] {
  const layers: ChainLayer[] = [];
  let store = child(disk, 'backingStore');
  // An empty <backingStore/> ends the chain; libvirt omits it when the chain is unknown.
  while (store && Object.keys(store).length > 0) {
    const type = attr(store, 'type') ?? 'file';
    layers.push({ file: sourceFile(store, type), format: attr(child(store, 'format'), 'type') });
    store = child(store, 'backingStore');
  }
  return layers;
}

function sourceFile(node: Node, type: string): string | null {
  if (type !== 'file') return null;
  return attr(child(node, 'source'), 'file');
}

function child(node: Node | null, name: string): Node | null {
  const value = node?.[name];
  return typeof value === 'object' && value !== null ? (value as Node) : null;
}

function attr(node: Node | null, name: string): string | null {
  const value = node?.[name];
  return typeof value === 'string' ? value : null;
}
