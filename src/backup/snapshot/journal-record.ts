import type { EngineJournalRecord } from '../engine.js';

export { freezeMayLinger } from '../engine.js';

/**
 * What a running snapshot-engine backup writes to the journal before each step that
 * changes the host, so that recovery (after a crash) or the failure path (after an
 * error) knows exactly what to undo or finish.
 */
export type SnapshotPhase =
  /** Planned; the guest may be about to freeze or pause. */
  | 'snapshotting'
  /** The overlays exist; the point is being copied into the repository. */
  | 'copying'
  /** The point is complete; the frozen layers are being merged below. */
  | 'committing';

export interface SnapshotRecord extends EngineJournalRecord {
  /** Records from before the checkpoint engine have no `engine`: they are the snapshot engine's. */
  engine: 'snapshot';
  phase: SnapshotPhase;
  disks: {
    target: string;
    frozen: string;
    overlay: string;
    commit: { top: string; base: string } | null;
  }[];
}
