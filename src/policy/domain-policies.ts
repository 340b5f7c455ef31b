import { DomainNotFound } from '../errors.js';
import type { Hypervisor } from '../libvirt/hypervisor.js';
import type { RepositoryTarget } from '../repo/target.js';
import type { Policies } from './policies.js';
import type { Policy } from './policy.js';

/**
 * A domain's resolved policy by its UUID alone, for what runs without a request (the
 * scheduler, backups, prunes): its project comes from Nova's metadata in the domain's XML,
 * libvirt's while the domain is defined here, else its newest point's.
 */
export class DomainPolicies {
  constructor(
    private readonly policies: Policies,
    private readonly hypervisor: Hypervisor,
    private readonly primary: RepositoryTarget,
  ) {}

  async policyOf(domainUuid: string): Promise<Policy> {
    return (await this.policies.policyFor(domainUuid, await this.xmlOf(domainUuid))).policy;
  }

  private async xmlOf(domainUuid: string): Promise<string | null> {
    try {
      return await (await this.hypervisor.lookup(domainUuid)).xml();
    } catch (err) {
      if (!(err instanceof DomainNotFound)) throw err;
      return (await this.primary.latestPoint(domainUuid))?.domain_xml ?? null;
    }
  }
}
