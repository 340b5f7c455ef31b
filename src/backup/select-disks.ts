import { InvalidArgument, UnsupportedDisk } from '../errors.js';
import type { ChainLayer, DomainDisk } from '../libvirt/domain-xml.js';

/** A disk the backup takes: file-backed, writable, qcow2 or raw. */
export interface BackupDisk {
  target: string;
  /** The active layer, which the snapshot freezes. */
  file: string;
  format: 'qcow2' | 'raw';
  /** Layers below the active one, nearest first. */
  backing: ChainLayer[];
}

const SAFE_TARGET = /^[a-z]{1,8}[a-z0-9]{0,8}$/;

/**
 * Chooses the disks to back up. cdrom, floppy and read-only disks carry no guest state
 * worth saving and are skipped silently; block and network disks are refused loudly,
 * because skipping them would make a point that looks complete and is not.
 */
export function selectDisks(disks: DomainDisk[], excludeTargets: readonly string[]): BackupDisk[] {
  const known = new Set(disks.map((d) => d.target));
  const unknown = excludeTargets.filter((t) => !known.has(t));
  if (unknown.length > 0) {
    throw new InvalidArgument(`exclude_disks names disks the domain does not have: ${unknown.join(', ')}`);
  }
  const selected: BackupDisk[] = [];
  for (const disk of disks) {
    if (disk.device === 'cdrom' || disk.device === 'floppy' || disk.readonly) continue;
    if (excludeTargets.includes(disk.target)) continue;
    if (!SAFE_TARGET.test(disk.target)) {
      throw new UnsupportedDisk(`disk target ${JSON.stringify(disk.target)} is not a plain device name`);
    }
    if (disk.type !== 'file' || disk.source.file === null) {
      throw new UnsupportedDisk(
        `disk ${disk.target} is ${disk.type}-backed; only file-backed disks are supported yet (exclude it with exclude_disks)`,
      );
    }
    const format = disk.source.format;
    if (format !== 'qcow2' && format !== 'raw') {
      throw new UnsupportedDisk(`disk ${disk.target} has format ${format ?? 'unknown'}; only qcow2 and raw are supported`);
    }
    selected.push({ target: disk.target, file: disk.source.file, format, backing: disk.backing });
  }
  if (selected.length === 0) throw new InvalidArgument('the domain has no disk to back up');
  return selected;
}
