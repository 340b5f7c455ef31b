import type { EngineChoice } from '../backup/request.js';
import { quote } from '../util/clip.js';
import type { PolicyLayer } from './parse-policy.js';
import { refuseIfAny } from './policy-fields.js';
import { POLICY_KEYS, type Capacity, type Plan, type Policy, type Tiers } from './policy.js';

export type PolicyKey = (typeof POLICY_KEYS)[number];
/** Where a resolved key came from: the most specific layer that set it, or the agent's built-in default. */
export type PolicySource = 'domain' | 'project' | 'defaults' | 'built-in';

export interface PolicyLayers {
  defaults: PolicyLayer | null;
  project: PolicyLayer | null;
  domain: PolicyLayer | null;
}

/** What of the agent's configuration a policy's defaults come from. */
export interface AgentPolicyFacts {
  /** `repo.targets` in config order, the first the agent's primary, each with its configured delay. */
  targets: readonly { name: string; delay_s: number }[];
  /** `backup.engine`. */
  engine: EngineChoice;
}

export interface ResolvedPolicy {
  policy: Policy;
  sources: Record<PolicyKey, PolicySource>;
}

const MOST_SPECIFIC_FIRST = ['domain', 'project', 'defaults'] as const;

/**
 * The policy a domain (or a project) runs by: each top-level key from the most specific
 * layer that sets it, taken whole; then the tiers and the plan completed from each other
 * and the configured targets. A combination that cannot work is refused with every
 * problem named (`what` starts the message).
 */
export function resolvePolicy(layers: PolicyLayers, agent: AgentPolicyFacts, what = 'policy'): ResolvedPolicy {
  const sources = {} as Record<PolicyKey, PolicySource>;
  const pick = <K extends PolicyKey>(key: K): PolicyLayer[K] | undefined => {
    for (const scope of MOST_SPECIFIC_FIRST) {
      const value = layers[scope]?.[key];
      if (value !== undefined) {
        sources[key] = scope;
        return value;
      }
    }
    sources[key] = 'built-in';
    return undefined;
  };
  const schedule = pick('schedule');
  const missed = pick('missed');
  const jitter = pick('jitter_s');
  const retention = pick('retention');
  const chainLength = pick('chain_length');
  const tierLayer = pick('tiers') ?? {};
  const planLayer = pick('plan') ?? {};
  const quiesce = pick('quiesce');
  const engine = pick('engine');
  const excludeDisks = pick('exclude_disks');

  const fastTarget = tierLayer.fast?.target ?? planLayer.primary ?? agent.targets[0]!.name;
  const fastCapacity = tierLayer.fast?.capacity ?? null;
  const slow = tierLayer.slow ?? null;
  const tiers: Tiers = {
    fast: { target: fastTarget, capacity: fastCapacity },
    slow: slow && { target: slow.target, capacity: slow.capacity === undefined ? tenTimes(fastCapacity) : slow.capacity, after_s: slow.after_s },
    manual: {
      target: tierLayer.manual?.target ?? fastTarget,
      capacity: tierLayer.manual?.capacity === undefined ? tenTimes(fastCapacity) : tierLayer.manual.capacity,
    },
  };
  const tierTargets = tierTargetsOf(tiers);
  const secondaries =
    planLayer.secondaries ?? agent.targets.filter((t) => !tierTargets.has(t.name)).map((t) => ({ target: t.name, delay_s: t.delay_s }));
  const plan: Plan = { primary: planLayer.primary ?? fastTarget, secondaries, copies: planLayer.copies ?? 1 + secondaries.length };

  refuseIfAny(what, crossKeyProblems(tiers, plan));
  return {
    policy: {
      schedule: schedule ?? null,
      missed: missed ?? 'catch_up',
      jitter_s: jitter ?? null,
      retention: retention ?? null,
      chain_length: chainLength ?? 0,
      tiers,
      plan,
      quiesce: quiesce ?? 'auto',
      engine: engine ?? agent.engine,
      exclude_disks: excludeDisks ?? [],
    },
    sources,
  };
}

/** The rule: the slow and manual tiers hold ten times what fast holds, in its unit; unbounded stays unbounded. */
function tenTimes(capacity: Capacity | null): Capacity | null {
  if (capacity === null) return null;
  const times = (n: number) => Math.min(n * 10, Number.MAX_SAFE_INTEGER);
  return 'count' in capacity ? { count: times(capacity.count) } : { bytes: times(capacity.bytes) };
}

/** Each target a tier uses, with the first tier that uses it. */
function tierTargetsOf(tiers: Tiers): Map<string, string> {
  const targets = new Map<string, string>();
  for (const [name, tier] of [['manual', tiers.manual], ['slow', tiers.slow], ['fast', tiers.fast]] as const) {
    if (tier) targets.set(tier.target, name);
  }
  return targets;
}

/** What no single layer can see wrong: the tiers and the plan must describe one placement. */
function crossKeyProblems(tiers: Tiers, plan: Plan): string[] {
  const problems: string[] = [];
  if (tiers.fast.target !== plan.primary) {
    problems.push(`tiers.fast.target ${quote(tiers.fast.target)} and plan.primary ${quote(plan.primary)} differ: the primary is where the fast tier is`);
  }
  if (tiers.slow && tiers.slow.target === tiers.fast.target) {
    problems.push(`tiers.slow.target ${quote(tiers.slow.target)} is the fast tier's target: a chain that moves to slow must move to another target`);
  }
  const tierTargets = tierTargetsOf(tiers);
  plan.secondaries.forEach((s, i) => {
    const tier = tierTargets.get(s.target);
    if (tier) problems.push(`plan.secondaries[${i}].target ${quote(s.target)} is the ${tier} tier's target: a copy there would be no second copy`);
  });
  const most = 1 + plan.secondaries.length;
  if (plan.copies > most) {
    problems.push(`plan.copies ${plan.copies} is more than the primary and ${plan.secondaries.length} secondar${plan.secondaries.length === 1 ? 'y' : 'ies'} can hold (${most})`);
  }
  return problems;
}
