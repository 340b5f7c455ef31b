import type { HypervisorDomain } from '../libvirt/hypervisor.js';
import { pointOf, type PlacedPoint } from '../repo/point.js';
import type { ChainRecordStore } from './snapshot/chain-record.js';
import type { CheckpointRecord } from './checkpoint/engine.js';
import type { SnapshotRecord } from './snapshot/journal-record.js';
import { REPAIR_DEADLINE_MS, type BackupEngine } from './engine.js';
import type { BackupPlaces } from './placement.js';
import { leaveAgentOverlays } from './snapshot/leave-agent-overlays.js';
import type { OperationContext } from './operation-context.js';
import { preflightBackup, type EngineSettings, type Preflight } from './preflight.js';
import type { BackupRequest } from './request.js';

export type { BackupRequest } from './request.js';
export type { OperationContext } from './operation-context.js';

/** The two engines, each with its own journal record. */
export interface Engines {
  snapshot: BackupEngine<SnapshotRecord>;
  checkpoint: BackupEngine<CheckpointRecord>;
}

export interface BackupDeps {
  domain: HypervisorDomain;
  places: BackupPlaces;
  chains: ChainRecordStore;
  engines: Engines;
  engineSettings: EngineSettings;
  newBackupId: () => string;
  now: () => Date;
}

/**
 * One backup: check the domain again (it may have changed since the request was
 * accepted), pick the engine, and let it take and publish the point. Whatever happens,
 * the engine leaves the host and the repository consistent before this returns or throws.
 */
export async function runBackup(request: BackupRequest, deps: BackupDeps, ctx: OperationContext<unknown>): Promise<PlacedPoint> {
  const { domain, places } = deps;
  let preflight = await preflightBackup(domain, request, deps.engineSettings);
  if (preflight.engine === 'checkpoint') {
    const deadline = AbortSignal.timeout(REPAIR_DEADLINE_MS);
    if (await leaveAgentOverlays(domain, preflight.disks, deps.chains, ctx.log, deadline)) {
      preflight = await preflightBackup(domain, request, deps.engineSettings);
    }
  }
  // Admission is checked again at run time: another manual backup may have filled the tier since the request.
  const { placement, latest, fullBecause } = await places.prepare(domain.uuid, request.kind);
  const input = {
    request,
    domain,
    domainXml: preflight.xml,
    allDisks: preflight.allDisks,
    disks: preflight.disks,
    placement,
    latest,
    fullBecause,
    standalone: request.kind === 'manual',
    backupId: deps.newBackupId(),
    now: deps.now,
  };
  const manifest = await engineFor(preflight, deps.engines).run(input, ctx);
  ctx.log.info(
    { backup_id: manifest.backup_id, engine: manifest.engine, mode: manifest.mode, bytes: manifest.bytes, target: placement.target.name, tier: placement.tier },
    'backup point published',
  );
  // Published on its tier's target; the replicator copies it to the secondaries from here.
  return { ...pointOf(manifest), targets: [placement.target.name] };
}

function engineFor(preflight: Preflight, engines: Engines): BackupEngine<never> {
  return preflight.engine === 'checkpoint' ? engines.checkpoint : engines.snapshot;
}
