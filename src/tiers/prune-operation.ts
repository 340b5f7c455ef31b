import { BackupNotFound, VerificationFailed } from '../errors.js';
import type { OperationContext } from '../backup/operation-context.js';
import { tierTargetsOf } from '../backup/placement.js';
import type { JobOperation } from '../jobs/job-runner.js';
import { deleteEverywhere, finishDeleteEverywhere, type DeleteRecord, type PointPlace } from '../points/delete-operation.js';
import type { Policy } from '../policy/policy.js';
import type { PolicyAction } from '../policy/tier-plan.js';
import type { Manifest } from '../repo/point.js';
import type { RepositoryTarget } from '../repo/target.js';
import { verifyPointFiles } from '../repo/verify-points.js';
import type { PendingInstantStore } from '../restore/pending-instant.js';
import type { KeyedLock } from '../util/keyed-lock.js';
import { moveChain } from './move-chain.js';
import { planDomain } from './plan-domain.js';
import { pointIn, scanTiers, type TierTargets, type TieredScan } from './tier-view.js';

/** The prune job's args: the scheduled point that triggered it, verified before anything goes. */
export interface PruneRequest {
  afterBackup: string | null;
}

/** What a prune journals: its plan, how far it got, and the step under way. */
export interface PruneRecord {
  action: 'prune';
  planned: PolicyAction[];
  /** Actions finished, in plan order. */
  done: number;
  /** The delete under way (a prune, or one point of a drop); null during a move. */
  deleting: DeleteRecord | null;
}

export interface PruneResult {
  verified: string | null;
  actions: (PolicyAction & { bytes: number; duration_ms: number })[];
  /** Actions left out because an unfinished instant restore reads one of their points. */
  skipped: (PolicyAction & { why: string })[];
  warnings: string[];
  duration_ms: number;
}

export interface PruneDeps {
  policyOf: (domainUuid: string) => Promise<Policy>;
  byName: (name: string) => RepositoryTarget;
  /** Every target: a pruned or dropped point goes from each place that holds it. */
  places: readonly PointPlace[];
  pending: PendingInstantStore;
  locks: KeyedLock;
  now: () => Date;
}

/**
 * The prune action: what a domain's policy does to its points after a backup. It first
 * verifies the point that triggered it (the oldest goes only once the newest is complete
 * and reads back), then runs the tier plan (`planTiers`): retention's prunes (each point
 * merged into its child, so the rest keep their content), moves from fast to slow, and
 * drops from slow. Each step is crash-safe on its own; the journal says which ran.
 */
export function pruneOperation(deps: PruneDeps): JobOperation {
  return {
    async run(job, ctx: OperationContext<PruneRecord>) {
      const started = Date.now();
      const { afterBackup } = job.request.args as unknown as PruneRequest;
      const policy = await deps.policyOf(job.domain_uuid);
      const tiers = tierTargetsOf(policy.tiers, deps.byName);
      // The replicator copies none of the domain's points meanwhile.
      return deps.locks.run(job.domain_uuid, async () => {
        // Planning only reads; nothing goes before the new point has verified.
        const { scan, plan } = await planDomain(policy, tiers, job.domain_uuid, deps.now());
        if (afterBackup !== null) await verifyNewPoint(scan, job.domain_uuid, afterBackup, ctx);
        for (const warning of plan.warnings) ctx.log.warn({ warning }, 'the policy cannot be met');
        const result: PruneResult = { verified: afterBackup, actions: [], skipped: [], warnings: plan.warnings, duration_ms: 0 };
        const record: PruneRecord = { action: 'prune', planned: plan.actions, done: 0, deleting: null };
        for (const action of plan.actions) {
          const reader = await readerOf(deps.pending, job.domain_uuid, action.backup_ids);
          if (reader) {
            result.skipped.push({ ...action, why: `the unfinished instant restore of ${reader} reads it` });
          } else {
            const stepStarted = Date.now();
            const bytes = await runAction(action, { deps, tiers, domainUuid: job.domain_uuid, record, ctx });
            result.actions.push({ ...action, bytes, duration_ms: Date.now() - stepStarted });
            ctx.log.info({ ...action, bytes }, `prune step done: ${action.action}`);
          }
          record.done += 1;
          record.deleting = null;
          await ctx.checkpoint(record);
        }
        result.duration_ms = Date.now() - started;
        return result;
      });
    },

    async recover(job) {
      const record = job.checkpoint as PruneRecord | null;
      if (!record || record.done >= record.planned.length) return 'it had not changed anything, or had finished';
      const action = record.planned[record.done]!;
      if (record.deleting) return finishDeleteEverywhere(deps.places, job.domain_uuid, record.deleting);
      if (action.action !== 'move') return `${action.action} of ${action.backup_ids.join(', ')} had not begun`;
      // A move is finished forward: its copy is idempotent, and the removal follows the switch.
      const tiers = tierTargetsOf((await deps.policyOf(job.domain_uuid)).tiers, deps.byName);
      if (tiers.slow === null) return `move of ${action.backup_ids.join(', ')} left as it was: the policy has no slow tier any more`;
      const chain = await chainOf(tiers, job.domain_uuid, action.backup_ids);
      const report = await moveChain(tiers.fast, tiers.slow, job.domain_uuid, chain, 'slow');
      return `move of ${action.backup_ids.join(', ')} to slow finished: ${report.copied.length} copied, ${report.removed.length} removed from fast`;
    },
  };
}

interface ActionContext {
  deps: PruneDeps;
  tiers: TierTargets;
  domainUuid: string;
  record: PruneRecord;
  ctx: OperationContext<PruneRecord>;
}

/** Runs one planned action; returns the bytes it wrote. */
async function runAction(action: PolicyAction, { deps, tiers, domainUuid, record, ctx }: ActionContext): Promise<number> {
  const progress = { signal: ctx.signal, onBytes: (bytes: number) => ctx.progress.add(bytes) };
  if (action.action === 'move') {
    await ctx.checkpoint(record);
    // Read now, not when planned: a prune before it may have merged into this chain, rewriting a point's files and parent.
    const chain = await chainOf(tiers, domainUuid, action.backup_ids);
    return (await moveChain(tiers.fast, tiers.slow!, domainUuid, chain, 'slow', progress)).bytes;
  }
  // A drop deletes its chain newest first: each point then has no child, and nothing is merged.
  const ids = action.action === 'drop' ? [...action.backup_ids].reverse() : action.backup_ids;
  let written = 0;
  for (const backupId of ids) {
    record.deleting = { action: 'delete', backup_id: backupId, done: [] };
    const nested = { ...ctx, checkpoint: () => ctx.checkpoint(record) };
    const places = await deleteEverywhere(deps.places, domainUuid, record.deleting, nested);
    written += places.reduce((sum, p) => sum + p.bytes_written, 0);
  }
  return written;
}

/** The new point must read back exactly, its own files and its link to its parent, before any older point goes. */
async function verifyNewPoint(scan: TieredScan, domainUuid: string, backupId: string, ctx: OperationContext<PruneRecord>): Promise<void> {
  const holder = pointIn(scan, backupId, domainUuid);
  if (!holder) throw new BackupNotFound(`backup ${backupId} of domain ${domainUuid} is in none of its tiers; nothing was pruned`);
  const verdict = await verifyPointFiles(holder.target, domainUuid, backupId, { signal: ctx.signal, onBytes: (bytes) => ctx.progress.add(bytes) });
  if (verdict.status !== 'ok') {
    throw new VerificationFailed(`backup ${backupId} is ${verdict.status} (${verdict.problems.join('; ')}); nothing was pruned`);
  }
}

/** The domain that an unfinished instant restore of one of the points runs, if any. */
async function readerOf(pending: PendingInstantStore, domainUuid: string, backupIds: readonly string[]): Promise<string | null> {
  for (const backupId of backupIds) {
    const user = await pending.userOf(domainUuid, backupId);
    if (user) return user.domain_name;
  }
  return null;
}

/** The chain's manifests as the tiers hold them now, oldest first; a point already gone is left out. */
async function chainOf(tiers: TierTargets, domainUuid: string, backupIds: readonly string[]): Promise<Manifest[]> {
  const held = new Map((await scanTiers(tiers, domainUuid)).points.map((p) => [p.manifest.backup_id, p.manifest]));
  return backupIds.map((id) => held.get(id)).filter((m): m is Manifest => m !== undefined);
}
