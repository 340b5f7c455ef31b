import { DomainNotFound, InvalidArgument } from '../errors.js';
import type { Hypervisor } from '../libvirt/hypervisor.js';
import type { Policies, PolicyView } from '../policy/policies.js';
import { checkProjectId } from '../policy/policy-store.js';
import type { RepositoryTarget } from '../repo/target.js';
import type { ScheduleStatus } from '../scheduler/scheduler.js';
import { ArgReader, checkDomainName } from './args.js';
import { resolveDomain } from './resolve-domain.js';

export interface PolicyApiDeps {
  hypervisor: Hypervisor;
  repo: RepositoryTarget;
  policies: Policies;
  /** A domain's schedule as the scheduler keeps it: its last and next slot, its last job or why it made none. */
  scheduleOf: (domainUuid: string) => Promise<ScheduleStatus>;
}

/**
 * get_policy's and set_policy's answer: the resolved policy's keys at the top (the
 * protocol's Policy), plus where each key came from, the layers as set, and whose policy
 * it is. set_policy takes only the policy's keys, so strip the others to send one back.
 */
export type PolicyAnswer = PolicyView['policy'] & {
  sources: PolicyView['sources'];
  layers: PolicyView['layers'];
  project: string | null;
  domain: { name: string; uuid: string } | null;
  /** A domain's answer only: its schedule as the scheduler keeps it (set_policy's: as it was before the change). */
  schedule_state?: ScheduleStatus;
};

/** A domain a policy can be about: defined here, or with points in the repository (its XML from the newest). */
interface PolicyDomain {
  uuid: string;
  name: string;
  xml: string | null;
}

/** `get_policy(domain=null, project=null)`: a domain's policy, a project's, or (neither) the defaults. */
export async function getPolicy(deps: PolicyApiDeps, args: Record<string, unknown>, context: Record<string, unknown>): Promise<PolicyAnswer> {
  const read = new ArgReader('get_policy', args);
  const scope = readScope('get_policy', read);
  read.done();
  if (scope.domain === null) return answerOf(await deps.policies.ofProject(scope.project), null);
  const domain = await findDomain(deps, 'get_policy', scope.domain);
  const view = await deps.policies.policyFor(domain.uuid, domain.xml, context['project_id'], `get_policy(): the policy of domain ${domain.name}`);
  return { ...answerOf(view, domain), schedule_state: await deps.scheduleOf(domain.uuid) };
}

/**
 * `set_policy(policy, domain=null, project=null)`: one domain's layer or one project's;
 * `policy` null or `{}` removes it. Refused whole, every problem named, when the policy
 * or the stack it joins cannot work; nothing is stored then.
 */
export async function setPolicy(deps: PolicyApiDeps, args: Record<string, unknown>, context: Record<string, unknown>): Promise<PolicyAnswer> {
  const read = new ArgReader('set_policy', args);
  const value = read.raw('policy');
  const scope = readScope('set_policy', read);
  read.done();
  if (value === undefined) throw new InvalidArgument('set_policy(): argument policy is required (null removes the layer)');
  if (scope.domain === null && scope.project === null) {
    throw new InvalidArgument('set_policy(): name a domain or a project (the defaults are the config file\'s policy.defaults)');
  }
  const layer = deps.policies.parse(value, 'set_policy(): policy');
  if (scope.project !== null) return answerOf(await deps.policies.setForProject(scope.project, layer, 'set_policy(): policy'), null);
  const domain = await findDomain(deps, 'set_policy', scope.domain!);
  const view = await deps.policies.setForDomain(domain.uuid, domain.xml, context['project_id'], layer, 'set_policy(): policy');
  return { ...answerOf(view, domain), schedule_state: await deps.scheduleOf(domain.uuid) };
}

function readScope(method: string, read: ArgReader): { domain: string | null; project: string | null } {
  const domain = read.optionalString('domain');
  const project = read.optionalString('project');
  if (domain !== null && project !== null) throw new InvalidArgument(`${method}(): give domain or project, not both`);
  return {
    domain: domain === null ? null : checkDomainName(method, domain),
    project: project === null ? null : checkProjectId(method, project),
  };
}

/** The domain libvirt knows, or one only the repository knows; else DomainNotFound, since a policy for no domain would never run. */
async function findDomain(deps: PolicyApiDeps, method: string, nameOrUuid: string): Promise<PolicyDomain> {
  const ref = await resolveDomain(deps.hypervisor, deps.repo, nameOrUuid);
  if (ref.defined) {
    const domain = await deps.hypervisor.lookup(ref.uuid);
    return { uuid: ref.uuid, name: ref.name, xml: await domain.xml() };
  }
  const latest = await deps.repo.latestPoint(ref.uuid);
  if (!latest) throw new DomainNotFound(`${method}(): domain ${nameOrUuid} is neither defined on this host nor backed up in its repository`);
  return { uuid: ref.uuid, name: ref.name, xml: latest.domain_xml };
}

function answerOf(view: PolicyView, domain: PolicyDomain | null): PolicyAnswer {
  return {
    ...view.policy,
    sources: view.sources,
    layers: view.layers,
    project: view.project,
    domain: domain && { name: domain.name, uuid: domain.uuid },
  };
}
