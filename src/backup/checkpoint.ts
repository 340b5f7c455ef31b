/**
 * What a running backup writes to the journal before each step that changes the host,
 * so that recovery (after a crash) or the failure path (after an error) knows exactly
 * what to undo or finish.
 */
export type BackupPhase =
  /** Planned; the guest may be about to freeze or pause. */
  | 'snapshotting'
  /** The overlays exist; the point is being copied into the repository. */
  | 'copying'
  /** The point is complete; the frozen layers are being merged below. */
  | 'committing';

export interface BackupCheckpoint {
  phase: BackupPhase;
  domain_uuid: string;
  backup_id: string;
  /** How the guest was stopped, so recovery thaws or resumes it. */
  stopped_by: 'agent' | 'suspend' | null;
  /**
   * A guest-agent freeze was asked for, even when the guest was then paused instead
   * (quiesce=auto fell back to suspend and `stopped_by` says 'suspend'). A freeze that
   * timed out may still land in the guest later, and the thaw guard that would undo it
   * lives only in the process that asked; so crash recovery hands the domain to its own
   * thaw guard whenever this is set.
   */
  freeze_requested: boolean;
  disks: {
    target: string;
    frozen: string;
    overlay: string;
    commit: { top: string; base: string } | null;
  }[];
}

/** Whether a guest-agent freeze was asked for, so the guest may be (or become) frozen. */
export function freezeMayLinger(checkpoint: BackupCheckpoint): boolean {
  return checkpoint.stopped_by === 'agent' || checkpoint.freeze_requested;
}
