import { DomainNotFound, InvalidArgument } from '../errors.js';
import type { Hypervisor } from '../libvirt/hypervisor.js';
import type { RepositoryTarget } from '../repo/target.js';
import { isUuid } from '../util/ids.js';

/** A domain as a request about its backups names it: libvirt may know it, or only the repository. */
export interface DomainRef {
  uuid: string;
  name: string;
  /** False when libvirt has no such domain (undefined, or the host was rebuilt). */
  defined: boolean;
}

/**
 * Finds the domain a repository request is about. A domain that libvirt no longer knows
 * is still found, by UUID or by the name its newest point records, since its backups
 * outlive it; a name that several domains in the repository had must be given as a UUID.
 */
export async function resolveDomain(hypervisor: Hypervisor, repo: RepositoryTarget, nameOrUuid: string): Promise<DomainRef> {
  try {
    const domain = await hypervisor.lookup(nameOrUuid);
    return { uuid: domain.uuid, name: domain.name, defined: true };
  } catch (err) {
    if (!(err instanceof DomainNotFound)) throw err;
    if (isUuid(nameOrUuid)) {
      const uuid = nameOrUuid.toLowerCase();
      return { uuid, name: (await repo.latestPoint(uuid))?.domain ?? uuid, defined: false };
    }
    const matches: string[] = [];
    for (const uuid of await repo.listDomains()) {
      if ((await repo.latestPoint(uuid))?.domain === nameOrUuid) matches.push(uuid);
    }
    if (matches.length === 1) return { uuid: matches[0]!, name: nameOrUuid, defined: false };
    if (matches.length > 1) {
      throw new InvalidArgument(`domain ${nameOrUuid} is not defined and ${matches.length} domains of that name have backups; name it by UUID (${matches.join(', ')})`);
    }
    throw err;
  }
}
