import { formatBytes } from './format.js';
import { plain, type Column } from './table.js';

/**
 * What each listing shows, as table columns (pure). The rows are the protocol's objects
 * exactly as the agent sent them (`--json` prints those); a column only reads them.
 * `wide` adds the columns an operator needs less often, as `-o wide` does in kubectl and
 * the openstack client.
 */
type Row = Record<string, unknown>;

export function pointColumns(now: number, wide: boolean): Column<Row>[] {
  return [
    { header: 'ID', cell: (p) => plain(p.backup_id) },
    { header: 'MODE', cell: (p) => plain(p.mode) },
    { header: 'ENGINE', cell: (p) => plain(p.engine) },
    { header: 'KIND', cell: (p) => plain(p.kind) },
    { header: 'TIER', cell: (p) => plain(p.tier) },
    { header: 'AGE', cell: (p) => age(p.created_at, now), right: true },
    { header: 'SIZE', cell: (p) => size(p.bytes), right: true },
    { header: 'FREEZE MS', cell: (p) => plain(p.freeze_ms), right: true },
    { header: 'TARGETS', cell: (p) => plain(p.targets) },
    ...(wide
      ? [
          { header: 'QUIESCE', cell: (p: Row) => plain(p.quiesce) },
          { header: 'PARENT', cell: (p: Row) => plain(p.parent) },
          { header: 'DISKS', cell: (p: Row) => plain((p.disks as Row[] | undefined)?.map((d) => d.target)) },
          { header: 'CREATED', cell: (p: Row) => plain(p.created_at) },
          { header: 'REASON', cell: (p: Row) => plain(p.reason) },
        ]
      : []),
  ];
}

export function jobColumns(now: number, wide: boolean): Column<Row>[] {
  return [
    { header: 'JOB', cell: (j) => plain(j.job_id) },
    { header: 'ACTION', cell: (j) => plain(j.action) },
    { header: 'DOMAIN', cell: (j) => plain(j.domain) },
    { header: 'STATE', cell: (j) => plain(j.state) },
    { header: 'PROGRESS', cell: (j) => percentOf(j.progress), right: true },
    { header: 'AGE', cell: (j) => age(j.created_at, now), right: true },
    { header: 'ERROR', cell: (j) => plain((j.error as Row | null)?.class) },
    ...(wide
      ? [
          { header: 'STARTED', cell: (j: Row) => plain(j.started_at) },
          { header: 'FINISHED', cell: (j: Row) => plain(j.finished_at) },
          { header: 'MESSAGE', cell: (j: Row) => plain((j.error as Row | null)?.message) },
        ]
      : []),
  ];
}

/** `ping`'s answers, one per agent. */
export function hostColumns(wide: boolean): Column<Row>[] {
  return [
    { header: 'HOST', cell: (h) => plain(h.host) },
    { header: 'ROLES', cell: (h) => plain(h.roles) },
    { header: 'VERSION', cell: (h) => plain(h.version) },
    { header: 'LIBVIRT', cell: (h) => plain(h.libvirt_version) },
    { header: 'WORST RPO', cell: (h) => worstRpo(h.worst_rpo), right: true },
    { header: 'DOMAIN', cell: (h) => plain((h.worst_rpo as Row | null)?.domain_uuid) },
    ...(wide ? [{ header: 'CAPABILITIES', cell: (h: Row) => plain(h.capabilities) }] : []),
  ];
}

function worstRpo(value: unknown): string {
  const rpo = (value as Row | null)?.rpo_s;
  return typeof rpo === 'number' ? duration(rpo) : '-';
}

function percentOf(progress: unknown): string {
  const { bytes_done: done, bytes_total: total } = (progress ?? {}) as Row;
  if (typeof done !== 'number' || typeof total !== 'number' || total <= 0) return '-';
  return `${Math.min(100, Math.floor((done / total) * 100))}%`;
}

function size(bytes: unknown): string {
  return typeof bytes === 'number' ? formatBytes(bytes) : '-';
}

/** How long ago an ISO instant was, in its largest unit: 45s, 12m, 3h, 9d. */
export function age(iso: unknown, now: number): string {
  const at = typeof iso === 'string' ? Date.parse(iso) : NaN;
  return Number.isNaN(at) ? '-' : duration(Math.max(0, (now - at) / 1000));
}

export function duration(seconds: number): string {
  const units: [string, number][] = [['d', 86_400], ['h', 3_600], ['m', 60]];
  for (const [unit, length] of units) if (seconds >= length) return `${Math.floor(seconds / length)}${unit}`;
  return `${Math.floor(seconds)}s`;
}
