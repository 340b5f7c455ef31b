import { deletePoint, finishDelete, type DeleteReport } from '../repo/delete-point.js';
import type { FileRepository } from '../repo/file-repository.js';

/**
 * A place that holds copies of points: the repository today; the DR node and other
 * repository targets later. Deleting a point means deleting it from every place.
 */
export interface PointPlace {
  /** A target name, as a point's `targets` lists it. */
  readonly name: string;
  /** Deletes the point here, merging it into its child first; null when this place has no such point. */
  deletePoint(
    domainUuid: string,
    backupId: string,
    options: { signal: AbortSignal; onTotal: (bytes: number) => void; onBytes: (bytes: number) => void },
  ): Promise<DeleteReport | null>;
  /** After a crash: finishes what committed, rolls back what did not. Safe to repeat. */
  finishDelete(domainUuid: string, backupId: string): Promise<'deleted' | 'kept'>;
}

/** The local (or mounted) repository as a place. */
export function repositoryPlace(repo: FileRepository, name = 'local'): PointPlace {
  return {
    name,
    async deletePoint(domainUuid, backupId, options) {
      if (!(await repo.hasPoint(domainUuid, backupId))) return null;
      return deletePoint(repo, domainUuid, backupId, options);
    },
    finishDelete: (domainUuid, backupId) => finishDelete(repo, domainUuid, backupId),
  };
}
