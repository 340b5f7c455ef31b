import type { HostDisk, Manifest, PointCheckpoint, PointDisk } from './point.js';
import { isBackupId, isUuid } from '../util/ids.js';

export class InvalidManifest extends Error {}

/**
 * Parses a manifest.json once into a typed Manifest, checking what later code relies on:
 * ids that are safe as path parts, and disk files that stay inside the point's folder.
 */
export function parseManifest(text: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new InvalidManifest(`manifest is not JSON: ${shown((err as Error).message)}`);
  }
  if (!isRecord(raw)) throw new InvalidManifest('manifest is not an object');
  const m = raw;
  // A newer agent's manifest is kept and reported, never guessed at.
  if (m.manifest_version !== 1) throw new InvalidManifest(`manifest_version ${shown(m.manifest_version)} is not one this agent reads (1)`);
  const backupId = str(m, 'backup_id');
  if (!isBackupId(backupId)) throw new InvalidManifest(`bad backup_id ${shown(backupId)}`);
  const uuid = str(m, 'domain_uuid');
  if (!isUuid(uuid)) throw new InvalidManifest(`bad domain_uuid ${shown(uuid)}`);
  const parent = m.parent === null ? null : str(m, 'parent');
  if (parent !== null && !isBackupId(parent)) throw new InvalidManifest(`bad parent ${shown(parent)}`);
  if (!Array.isArray(m.disks) || m.disks.length === 0) throw new InvalidManifest('no disks');
  const disks = m.disks.map(parseDisk);
  const mode = oneOf(m, 'mode', ['full', 'incremental'] as const);
  return {
    manifest_version: 1,
    backup_id: backupId,
    domain: str(m, 'domain'),
    domain_uuid: uuid,
    mode,
    kind: oneOf(m, 'kind', ['scheduled', 'manual'] as const),
    tier: oneOf(m, 'tier', ['fast', 'slow', 'manual'] as const),
    // Points from before the checkpoint engine carry neither field: they are snapshot points.
    engine: m.engine === undefined ? 'snapshot' : oneOf(m, 'engine', ['checkpoint', 'snapshot'] as const),
    reason: m.reason === undefined || m.reason === null ? null : str(m, 'reason'),
    parent,
    created_at: str(m, 'created_at'),
    host: m.host === undefined || m.host === null ? null : str(m, 'host'),
    quiesce: oneOf(m, 'quiesce', ['agent', 'suspend', 'none'] as const),
    freeze_ms: num(m, 'freeze_ms'),
    bytes: num(m, 'bytes'),
    disks,
    domain_xml: str(m, 'domain_xml'),
    checkpoint: m.checkpoint === undefined || m.checkpoint === null ? null : parseCheckpoint(m.checkpoint),
    host_disks: m.host_disks === undefined ? [] : list(m, 'host_disks').map(parseHostDisk),
  };
}

const CHECKPOINT_NAME = /^virtdr-[0-9A-Za-z-]{1,64}$/;

function parseCheckpoint(value: unknown): PointCheckpoint {
  if (!isRecord(value)) throw new InvalidManifest('checkpoint is not an object');
  const name = str(value, 'name');
  if (!CHECKPOINT_NAME.test(name)) throw new InvalidManifest(`checkpoint name ${name} is not the agent's`);
  return { name, xml: str(value, 'xml') };
}

function parseHostDisk(value: unknown): HostDisk {
  if (!isRecord(value)) throw new InvalidManifest('host disk is not an object');
  const bitmap = value.bitmap === null ? null : str(value, 'bitmap');
  if (bitmap !== null && !CHECKPOINT_NAME.test(bitmap)) throw new InvalidManifest(`bitmap ${bitmap} is not the agent's`);
  return {
    target: str(value, 'target'),
    file: str(value, 'file'),
    format: oneOf(value, 'format', ['qcow2', 'raw'] as const),
    bitmap,
  };
}

function list(record: Record<string, unknown>, key: string): unknown[] {
  const value = record[key];
  if (!Array.isArray(value)) throw new InvalidManifest(`${key} must be a list`);
  return value;
}

const SAFE_FILE = /^[a-z0-9]+\.(qcow2|raw)$/;

function parseDisk(value: unknown): PointDisk {
  if (!isRecord(value)) throw new InvalidManifest('disk is not an object');
  const file = str(value, 'file');
  if (!SAFE_FILE.test(file)) throw new InvalidManifest(`disk file ${shown(file)} is not a plain file name`);
  return {
    target: str(value, 'target'),
    file,
    format: oneOf(value, 'format', ['qcow2', 'raw'] as const),
    virtual_size: num(value, 'virtual_size'),
    size: num(value, 'size'),
    sha256: str(value, 'sha256'),
  };
}

/** A value as a reason shows it: reasons travel in replies, so a planted 16 MiB string may not. */
function shown(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  return text.length > 100 ? `${text.slice(0, 100)}…` : text;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(record: Record<string, unknown>, key: string): string {
  const value = record[key];
  if (typeof value !== 'string') throw new InvalidManifest(`${key} must be a string`);
  return value;
}

function num(record: Record<string, unknown>, key: string): number {
  const value = record[key];
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new InvalidManifest(`${key} must be a number`);
  return value;
}

function oneOf<T extends string>(record: Record<string, unknown>, key: string, allowed: readonly T[]): T {
  const value = record[key];
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new InvalidManifest(`${key} must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}
