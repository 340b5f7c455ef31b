/**
 * The backup point: the result of a backup job, an item of list_backups, and (with the
 * domain XML) the manifest.json of a point folder. Field names are the protocol's
 * (shared/PROTOCOL.md, "Result shapes"); add fields freely, never rename one.
 */
export type BackupMode = 'full' | 'incremental';
export type BackupKind = 'scheduled' | 'manual';
export type QuiesceMethod = 'agent' | 'suspend' | 'none';
export type BackupTier = 'fast' | 'slow' | 'manual';
/** `checkpoint`: libvirt's backup API with dirty bitmaps; `snapshot`: an external snapshot and an agent overlay. */
export type EngineName = 'checkpoint' | 'snapshot';

export interface PointDisk {
  /** Guest device name, e.g. vda. */
  target: string;
  /** File name relative to the manifest's folder. */
  file: string;
  /** qcow2 or raw: the format of `file`, needed to open the chain without guessing. */
  format: 'qcow2' | 'raw';
  virtual_size: number;
  /** Bytes of `file` on disk (its length, holes included). */
  size: number;
  sha256: string;
}

export interface BackupPoint {
  backup_id: string;
  domain: string;
  domain_uuid: string;
  mode: BackupMode;
  kind: BackupKind;
  tier: BackupTier;
  engine: EngineName;
  /** Why this point is a full, when it is one; null for an incremental. */
  reason: string | null;
  /** backup_id of the point this one's disks are overlays of; null for a full. */
  parent: string | null;
  created_at: string;
  /** The agent (its `host`) that took the point: where the domain ran. Null in points from before it was recorded. */
  host: string | null;
  quiesce: QuiesceMethod;
  freeze_ms: number;
  /** Bytes stored for this point: the sum of its disks' sizes. */
  bytes: number;
  disks: PointDisk[];
}

/**
 * A disk as the host had it when the point was taken: what the next incremental checks
 * the disk against (the same file, the same format) before it trusts a bitmap.
 */
export interface HostDisk {
  target: string;
  file: string;
  format: 'qcow2' | 'raw';
  /** The dirty bitmap the point's checkpoint left on this disk, or null. */
  bitmap: string | null;
}

/**
 * The libvirt checkpoint a point was taken with. Its XML (without <parent>) is what the
 * next backup redefines, so the chain continues from the repository alone: with an empty
 * state folder, or on another host after a live migration on shared storage.
 */
export interface PointCheckpoint {
  name: string;
  xml: string;
}

export interface Manifest extends BackupPoint {
  manifest_version: 1;
  domain_xml: string;
  checkpoint: PointCheckpoint | null;
  host_disks: HostDisk[];
}

/** A point as replies show it: with the targets it is complete on, the primary first. */
export interface PlacedPoint extends BackupPoint {
  targets: string[];
}

export function pointOf(manifest: Manifest): BackupPoint {
  const {
    manifest_version: _version,
    domain_xml: _xml,
    checkpoint: _checkpoint,
    host_disks: _hostDisks,
    ...point
  } = manifest;
  return point;
}
