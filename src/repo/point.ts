/**
 * The backup point: the result of a backup job, an item of list_backups, and (with the
 * domain XML) the manifest.json of a point folder. Field names are the protocol's
 * (shared/PROTOCOL.md, "Result shapes"); add fields freely, never rename one.
 */
export type BackupMode = 'full' | 'incremental';
export type BackupKind = 'scheduled' | 'manual';
export type QuiesceMethod = 'agent' | 'suspend' | 'none';
export type BackupTier = 'fast' | 'slow' | 'manual';

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
  /** backup_id of the point this one's disks are overlays of; null for a full. */
  parent: string | null;
  created_at: string;
  quiesce: QuiesceMethod;
  freeze_ms: number;
  /** Bytes stored for this point: the sum of its disks' sizes. */
  bytes: number;
  disks: PointDisk[];
}

export interface Manifest extends BackupPoint {
  manifest_version: 1;
  domain_xml: string;
}

export function pointOf(manifest: Manifest): BackupPoint {
  const { manifest_version: _version, domain_xml: _xml, ...point } = manifest;
  return point;
}
