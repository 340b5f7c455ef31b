import { isAgentOverlay } from '../backup/snapshot/plan.js';
import { UnsupportedDisk } from '../errors.js';
import { parseDomainDisks, type DomainDisk } from '../libvirt/domain-xml.js';
import { imageInfo, isImageFormat, type ImageFormat } from '../qemu/qemu-img.js';
import { dirname, resolve } from 'node:path';

/**
 * A disk as its owner made it: the file Nova (or whoever defined the domain) names in its
 * XML. A restore writes there, never to a file the owner did not create.
 */
export interface OwnerDisk {
  target: string;
  file: string;
  format: ImageFormat;
}

/**
 * The owner's file of each file-backed disk in a domain XML. A disk whose active layer is
 * the snapshot engine's overlay belongs below it: the layer the XML names beneath it, or,
 * in an inactive XML that records no chain, the backing file the overlay's header names
 * (the agent wrote that header, with its format).
 */
export async function ownerDisksOf(xml: string): Promise<OwnerDisk[]> {
  const owners: OwnerDisk[] = [];
  for (const disk of parseDomainDisks(xml)) {
    if (disk.device !== 'disk' || disk.type !== 'file' || disk.source.file === null) continue;
    owners.push(await ownerDiskOf(disk, disk.source.file));
  }
  return owners;
}

async function ownerDiskOf(disk: DomainDisk, active: string): Promise<OwnerDisk> {
  if (!isAgentOverlay(active)) {
    return { target: disk.target, file: active, format: formatOf(disk.target, disk.source.format) };
  }
  const below = disk.backing[0];
  if (below?.file) return { target: disk.target, file: below.file, format: formatOf(disk.target, below.format) };
  const info = await imageInfo(active, 'qcow2');
  if (info.backingFile === null) throw new UnsupportedDisk(`disk ${disk.target}: the agent overlay ${active} has no backing file`);
  return {
    target: disk.target,
    file: resolve(dirname(active), info.backingFile),
    format: formatOf(disk.target, info.backingFormat),
  };
}

function formatOf(target: string, format: string | null): ImageFormat {
  if (!isImageFormat(format)) throw new UnsupportedDisk(`disk ${target} is ${format ?? 'of no named format'}; only qcow2 and raw are restored`);
  return format;
}
