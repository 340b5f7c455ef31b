import type { EngineChoice } from '../backup/request.js';
import { ConfigError } from '../config.js';
import { InvalidArgument } from '../errors.js';
import type { TargetSpec } from '../repo/target-config.js';
import { projectOf } from './domain-project.js';
import { parsePolicyLayer, type PolicyLayer, type PolicyParseContext, type ScheduleChecks } from './parse-policy.js';
import type { Policy } from './policy.js';
import type { PolicyStore } from './policy-store.js';
import { resolvePolicy, type AgentPolicyFacts, type PolicyKey, type PolicyLayers, type PolicySource } from './resolve-policy.js';

/** A resolved policy with how it came about: get_policy's answer, and what the scheduler runs by. */
export interface PolicyView {
  policy: Policy;
  sources: Record<PolicyKey, PolicySource>;
  /** Each layer as set (null: it sets nothing). */
  layers: PolicyLayers;
  /** The project whose layer applies, or null. */
  project: string | null;
}

/** What policies are checked and completed against, fixed at start: the targets, the engine, the defaults. */
export interface PolicySetup {
  context: PolicyParseContext;
  facts: AgentPolicyFacts;
  /** `policy.defaults`, parsed; null when it sets nothing. */
  defaults: PolicyLayer | null;
}

/**
 * Parses `policy.defaults` once at start, against the configured targets, and resolves
 * it alone, so a default policy that cannot work stops the start as a ConfigError.
 */
export function policySetupOf(defaults: unknown, targets: readonly TargetSpec[], engine: EngineChoice, checks: ScheduleChecks): PolicySetup {
  const context = { targets: targets.map((t) => t.name), checks };
  const facts = { targets: targets.map((t) => ({ name: t.name, delay_s: t.delayS })), engine };
  try {
    const layer = nonEmpty(parsePolicyLayer(defaults, 'policy.defaults', context));
    resolvePolicy({ defaults: layer, project: null, domain: null }, facts, 'policy.defaults');
    return { context, facts, defaults: layer };
  } catch (err) {
    if (err instanceof InvalidArgument) throw new ConfigError(err.message);
    throw err;
  }
}

/**
 * The policies of this agent's domains and projects: the config file's defaults under
 * the stored project and domain layers. A layer is set only when the stack it joins
 * resolves, so every stored layer worked when it was set.
 */
export class Policies {
  constructor(
    private readonly setup: PolicySetup,
    private readonly store: PolicyStore,
  ) {}

  /** A layer from untrusted JSON (set_policy's `policy`); `what` starts the refusal. */
  parse(value: unknown, what: string): PolicyLayer {
    return parsePolicyLayer(value, what, this.setup.context);
  }

  /**
   * What a domain runs by. Its project is Nova's owner in `domainXml`, else
   * `contextProjectId` (a request's `project_id`; the scheduler has none).
   */
  policyFor(domainUuid: string, domainXml: string | null, contextProjectId: unknown = null, what = `the policy of domain ${domainUuid}`): Promise<PolicyView> {
    return this.view({ domain: domainUuid, project: projectOf(domainXml, contextProjectId) }, {}, what);
  }

  /** A project's layer over the defaults; null: the defaults alone. */
  ofProject(project: string | null, what = project === null ? 'the default policy' : `the policy of project ${project}`): Promise<PolicyView> {
    return this.view({ domain: null, project }, {}, what);
  }

  /**
   * Sets (an empty layer: removes) a domain's layer, once the stack it joins resolves (its
   * project as `policyFor` finds it); answers the new view.
   */
  async setForDomain(domainUuid: string, domainXml: string | null, contextProjectId: unknown, layer: PolicyLayer, what: string): Promise<PolicyView> {
    const view = await this.view({ domain: domainUuid, project: projectOf(domainXml, contextProjectId) }, { domain: layer }, what);
    await this.store.save({ domain: domainUuid }, layer);
    return view;
  }

  /** Sets (an empty layer: removes) a project's layer over the defaults. */
  async setForProject(project: string, layer: PolicyLayer, what: string): Promise<PolicyView> {
    const view = await this.view({ domain: null, project }, { project: layer }, what);
    await this.store.save({ project }, layer);
    return view;
  }

  private async view(
    scope: { domain: string | null; project: string | null },
    replacing: { domain?: PolicyLayer; project?: PolicyLayer },
    what: string,
  ): Promise<PolicyView> {
    const { domain, project } = scope;
    const layers: PolicyLayers = {
      defaults: this.setup.defaults,
      project: project === null ? null : replacing.project ? nonEmpty(replacing.project) : await this.store.load({ project }),
      domain: domain === null ? null : replacing.domain ? nonEmpty(replacing.domain) : await this.store.load({ domain }),
    };
    const { policy, sources } = resolvePolicy(layers, this.setup.facts, what);
    return { policy, sources, layers, project };
  }
}

function nonEmpty(layer: PolicyLayer): PolicyLayer | null {
  return Object.keys(layer).length === 0 ? null : layer;
}
