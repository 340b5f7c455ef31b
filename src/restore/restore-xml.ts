import path from 'node:path';
import { InvalidArgument, PointCorrupt } from '../errors.js';
import { isImageFormat, type ImageFormat } from '../qemu/qemu-img.js';
import { isUuid } from '../util/ids.js';
import {
  buildXmlTree,
  childElements,
  element,
  firstChild,
  getAttr,
  hasAttributes,
  insertChild,
  parseXmlTree,
  removeAttr,
  removeChildren,
  setAttr,
  setText,
  tagOf,
  type XmlNode,
} from '../util/xml-tree.js';
import { isTag, stripLiveState } from './live-state.js';
import { giveNewIdentity, type NewIdentity } from './new-identity.js';
import { mapDomain, type HostMapping } from '../failover/host-mapping.js';

/** One image of a restored disk's chain. */
export interface RestoredLayer {
  /** An absolute path. */
  file: string;
  format: ImageFormat;
}

export interface RestoredDisk extends RestoredLayer {
  /** The disk's target dev in the point's XML (`vda`). */
  target: string;
  /**
   * The backing chain below `file`, nearest first (an instant restore's overlay sits on
   * the repository's point chain); omitted or empty: the disk has no backing.
   */
  backing?: RestoredLayer[];
}

export type RestoredIdentity = { kind: 'same' } | ({ kind: 'new' } & NewIdentity);

export interface RestoredDomainOptions {
  disks: RestoredDisk[];
  identity: RestoredIdentity;
  /**
   * Targets of disks to leave out of the restored domain. With a new identity every
   * writable disk must be restored or left out: one left as it is would be the
   * original's own image, written by two domains.
   */
  omitDisks?: string[];
  /** Fits a domain from another host to this one (failover); none: nothing is renamed. */
  mapping?: HostMapping;
}

/**
 * The XML to define a domain restored from a point, from the live XML the point keeps
 * (`domain_xml`): the listed disks on their restored files, with their backing chain
 * spelled out layer by layer, formats named (libvirt then opens exactly these files and
 * probes nothing); what only described the running instance taken out; a new VM
 * generation ID; and with a new identity, a domain that can run beside the original.
 * Everything else stays as it was, byte for byte as escaped in the point.
 *
 * Backing layers are marked `<seclabel model='dac' relabel='no'/>`: they are repository
 * files, which libvirt's DAC driver would otherwise chown to QEMU's user and never give
 * back (it restores only the top image). QEMU then reads them through a POSIX ACL entry
 * the caller grants (`u:<uid>:r` on each file, `u:<uid>:x` on each folder on the way).
 *
 * Throws PointCorrupt when the point's XML is not a domain, or lacks a disk named;
 * InvalidArgument for options that cannot describe a domain.
 */
export function restoredDomainXml(pointXml: string, options: RestoredDomainOptions): string {
  checkOptions(options);
  let nodes: XmlNode[];
  try {
    nodes = parseXmlTree(pointXml);
  } catch (err) {
    throw new PointCorrupt(`the point's domain XML: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const domain = nodes.find((node) => tagOf(node) === 'domain');
  if (!domain) throw new PointCorrupt("the point's domain XML has no <domain>");
  stripLiveState(domain);
  renewGenerationId(domain);
  // Before the disks: restored disks then take the plan's paths, the others mapped ones.
  if (options.mapping) mapDomain(domain, options.mapping);
  const disks = disksByTarget(domain);
  for (const disk of options.disks) restoreDisk(need(disks, disk.target), disk);
  const omitted = new Set(options.omitDisks ?? []);
  for (const target of omitted) need(disks, target);
  const devices = firstChild(domain, 'devices');
  if (devices) removeChildren(devices, (c) => isTag(c, 'disk') && omitted.has(targetOf(c) ?? ''));
  if (options.identity.kind === 'new') {
    const restored = new Set(options.disks.map((d) => d.target));
    for (const [target, disk] of disks) {
      if (!restored.has(target) && !omitted.has(target) && isWritable(disk)) {
        throw new InvalidArgument(`disk ${target} would be the original's own image in the new domain: restore it or leave it out`);
      }
    }
    giveNewIdentity(domain, options.identity);
  }
  return buildXmlTree(nodes);
}

/**
 * A definition with the listed disks on these files and their backing chains replaced,
 * nothing else changed: an instant restore's domain, redefined once its disks no longer
 * read from the repository (an offline flatten leaves the chain in the definition).
 */
export function flatDefinitionXml(xml: string, disks: RestoredDisk[]): string {
  const nodes = parseXmlTree(xml);
  const domain = nodes.find((node) => tagOf(node) === 'domain');
  if (!domain) throw new InvalidArgument('not a domain definition');
  const byTarget = disksByTarget(domain);
  for (const disk of disks) restoreDisk(need(byTarget, disk.target), disk);
  return buildXmlTree(nodes);
}

/**
 * A restored guest is one rolled back in time, which is what the VM generation ID tells
 * it (Windows domain controllers then stop replicating stale data): an empty `<genid/>`
 * makes libvirt give it a new one.
 */
function renewGenerationId(domain: XmlNode): void {
  for (const genid of childElements(domain, 'genid')) setText(genid, '');
}

function checkOptions(options: RestoredDomainOptions): void {
  const targets = new Set<string>();
  for (const disk of options.disks) {
    if (targets.has(disk.target)) throw new InvalidArgument(`disk ${disk.target} is listed twice`);
    targets.add(disk.target);
    if ((options.omitDisks ?? []).includes(disk.target)) throw new InvalidArgument(`disk ${disk.target} is both restored and left out`);
    for (const layer of [disk, ...(disk.backing ?? [])]) {
      if (!path.isAbsolute(layer.file) || layer.file.includes('\0')) {
        throw new InvalidArgument(`disk ${disk.target}: ${JSON.stringify(layer.file)} is not an absolute path`);
      }
      if (!isImageFormat(layer.format)) throw new InvalidArgument(`disk ${disk.target}: unknown format ${String(layer.format)}`);
    }
  }
  const identity = options.identity;
  if (identity.kind !== 'new') return;
  if (identity.name.trim() === '' || identity.name.includes('\0')) throw new InvalidArgument('the new domain needs a name');
  if (!isUuid(identity.uuid)) throw new InvalidArgument(`${JSON.stringify(identity.uuid)} is not a UUID`);
  if (!path.isAbsolute(identity.folder)) throw new InvalidArgument(`${JSON.stringify(identity.folder)} is not an absolute folder`);
}

function targetOf(disk: XmlNode): string | undefined {
  const target = firstChild(disk, 'target');
  return target ? getAttr(target, 'dev') : undefined;
}

function disksByTarget(domain: XmlNode): Map<string, XmlNode> {
  const devices = firstChild(domain, 'devices');
  const disks = new Map<string, XmlNode>();
  for (const disk of devices ? childElements(devices, 'disk') : []) {
    const target = targetOf(disk);
    if (target !== undefined) disks.set(target, disk);
  }
  return disks;
}

function need(disks: Map<string, XmlNode>, target: string): XmlNode {
  const disk = disks.get(target);
  if (!disk) throw new PointCorrupt(`the point's domain XML has no disk ${target}`);
  return disk;
}

/** cdroms, floppies, read-only and shareable disks are meant to be shared. */
function isWritable(disk: XmlNode): boolean {
  const device = getAttr(disk, 'device') ?? 'disk';
  if (device === 'cdrom' || device === 'floppy') return false;
  if (firstChild(disk, 'readonly') || firstChild(disk, 'shareable')) return false;
  const source = firstChild(disk, 'source');
  return source !== undefined && hasAttributes(source);
}

function restoreDisk(disk: XmlNode, restored: RestoredDisk): void {
  let source = firstChild(disk, 'source');
  if (getAttr(disk, 'type') !== 'file' || !source) {
    // A block or network disk comes back as a file: none of its source's settings apply.
    setAttr(disk, 'type', 'file');
    removeChildren(disk, (c) => isTag(c, 'source'));
    source = element('source');
    insertChild(disk, source, firstChild(disk, 'driver'));
  }
  setAttr(source, 'file', restored.file);
  removeAttr(source, 'index');
  const driver = firstChild(disk, 'driver');
  if (driver) setAttr(driver, 'type', restored.format);
  else insertChild(disk, element('driver', { name: 'qemu', type: restored.format }));
  removeChildren(disk, (c) => isTag(c, 'backingStore'));
  if (restored.backing?.length) insertChild(disk, backingStoreChain(restored.backing), source);
}

/** `<backingStore>` elements, nearest layer outermost, ended by an empty one (no further backing). */
function backingStoreChain(layers: RestoredLayer[]): XmlNode {
  return layers.reduceRight<XmlNode>(
    (below, layer) =>
      element('backingStore', { type: 'file' }, [
        element('format', { type: layer.format }),
        element('source', { file: layer.file }, [element('seclabel', { model: 'dac', relabel: 'no' })]),
        below,
      ]),
    element('backingStore'),
  );
}
