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

/** The XML namespace Nova writes its instance metadata in (…/nova/1.1 today). */
export const NOVA_NAMESPACE_PREFIX = 'http://openstack.org/xmlns/libvirt/nova/';

/**
 * True when the domain carries Nova's instance metadata: Nova owns it, rebuilds its XML
 * from its own disk paths and undefines it without the checkpoint metadata flags.
 */
export function isNovaInstance(xml: string): boolean {
  const metadata = child(child(parser.parse(xml) as Node, 'domain'), 'metadata');
  if (!metadata) return false;
  return Object.values(metadata).some(
    (element) =>
      typeof element === 'object' &&
      element !== null &&
      Object.entries(element as Node).some(
        ([key, value]) => key.startsWith('xmlns') && typeof value === 'string' && value.startsWith(NOVA_NAMESPACE_PREFIX),
      ),
  );
}

/**
 * The uid QEMU opens this running domain's images as: the DAC image label
 * (`<seclabel model='dac'><imagelabel>+64055:+64055</imagelabel>`), or null when the
 * live XML has none (QEMU runs as root, or DAC labelling is off).
 */
export function imageOwnerUid(xml: string): number | null {
  const labels = child(child(parser.parse(xml) as Node, 'domain'), 'seclabel');
  for (const label of Array.isArray(labels) ? (labels as Node[]) : labels ? [labels as Node] : []) {
    if (attr(label, 'model') !== 'dac') continue;
    const text = label.imagelabel ?? label.label;
    const uid = typeof text === 'string' ? /^\+?(\d+):/.exec(text)?.[1] : undefined;
    if (uid !== undefined) return Number(uid);
  }
  return null;
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
