import type { DomainRef } from '../libvirt/hypervisor.js';
import type { BackupMode, BackupTier, EngineName, HostDisk, Manifest, PointCheckpoint, PointDisk } from '../repo/point.js';
import type { QuiesceOutcome } from './quiesce.js';
import type { BackupRequest } from './request.js';

/** What an engine knows once its point's files are staged and verified. */
export interface PointFacts {
  backupId: string;
  /** This agent's host name. */
  host: string;
  domain: DomainRef;
  domainXml: string;
  request: BackupRequest;
  tier: BackupTier;
  engine: EngineName;
  mode: BackupMode;
  parent: string | null;
  reason: string | null;
  createdAt: Date;
  quiesce: QuiesceOutcome;
  disks: PointDisk[];
  hostDisks: HostDisk[];
  checkpoint: PointCheckpoint | null;
}

/** The manifest both engines publish: one shape, whichever engine took the point. */
export function manifestOf(facts: PointFacts): Manifest {
  return {
    manifest_version: 1,
    backup_id: facts.backupId,
    domain: facts.domain.name,
    domain_uuid: facts.domain.uuid,
    mode: facts.mode,
    kind: facts.request.kind,
    tier: facts.tier,
    engine: facts.engine,
    reason: facts.mode === 'full' ? facts.reason : null,
    parent: facts.parent,
    created_at: facts.createdAt.toISOString(),
    host: facts.host,
    quiesce: facts.quiesce.method,
    freeze_ms: facts.quiesce.freezeMs,
    bytes: facts.disks.reduce((sum, d) => sum + d.size, 0),
    disks: facts.disks,
    domain_xml: facts.domainXml,
    checkpoint: facts.checkpoint,
    host_disks: facts.hostDisks,
  };
}
