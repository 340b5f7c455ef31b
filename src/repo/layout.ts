import { posix } from 'node:path';
import { InvalidArgument } from '../errors.js';
import { isBackupId, isHostName, isUuid } from '../util/ids.js';

/**
 * Where things are in a repository, as POSIX paths below its root: the file target's
 * layout, so a DR node's folder reads the same whether it was written over SSH or locally.
 *
 *   <root>/<domain-uuid>/<backup-id>/manifest.json         the point, written last
 *   <root>/<domain-uuid>/.partial-<host>-<backup-id>/      a point being written by <host>
 *
 * Only ids, UUIDs and the host name that passed their pattern check become path parts.
 */
export const STAGING_PREFIX = '.partial-';

export class RepositoryLayout {
  readonly ownStagingPrefix: string;

  constructor(
    readonly root: string,
    host: string,
  ) {
    if (!isHostName(host)) {
      throw new InvalidArgument(`host name ${JSON.stringify(host)} cannot name staging folders: use letters, digits, '.', '_' and '-'`);
    }
    this.ownStagingPrefix = `${STAGING_PREFIX}${host}-`;
  }

  domainDir(domainUuid: string): string {
    if (!isUuid(domainUuid)) throw new InvalidArgument(`not a domain UUID: ${domainUuid}`);
    return posix.join(this.root, domainUuid.toLowerCase());
  }

  pointDir(domainUuid: string, backupId: string): string {
    return posix.join(this.domainDir(domainUuid), checkedBackupId(backupId));
  }

  /** This host's staging folder for a point; other hosts' never share its name. */
  partialDir(domainUuid: string, backupId: string): string {
    return posix.join(this.domainDir(domainUuid), `${this.ownStagingPrefix}${checkedBackupId(backupId)}`);
  }

  /** A staging folder this host made (and so may remove). */
  isOwnStaging(name: string): boolean {
    return name.startsWith(this.ownStagingPrefix) && isBackupId(name.slice(this.ownStagingPrefix.length));
  }
}

export function checkedBackupId(backupId: string): string {
  if (!isBackupId(backupId)) throw new InvalidArgument(`backup_id ${JSON.stringify(backupId.slice(0, 64))} is not a backup id`);
  return backupId;
}
