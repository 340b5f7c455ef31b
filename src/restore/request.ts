/** What a restore does, parsed from its RPC arguments (api/job-requests.ts). */
export type RestoreTarget = 'replace' | 'new';

export interface RestoreRequest {
  backupId: string;
  /** `replace`: the domain itself, at its disks' paths; `new`: a second domain beside it. */
  target: RestoreTarget;
  /** The new domain's name (target `new` only). */
  newName: string | null;
  /** Run at once on an overlay over the repository point, copying in the background. */
  instant: boolean;
  /** Finish the copy of an instant restore that stopped before it ended. */
  resume: boolean;
  /**
   * Define the domain from this point's XML rather than the restored one's (a failback:
   * the data is what the DR node wrote, the definition the home host's own). Null: the
   * restored point's.
   */
  definitionFrom: string | null;
}
