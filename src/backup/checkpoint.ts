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
  disks: {
    target: string;
    frozen: string;
    overlay: string;
    commit: { top: string; base: string } | null;
  }[];
}
