import { expect } from 'vitest';
import { InvalidArgument } from '../../src/errors.js';
import { SCHEDULE_CHECKS } from '../../src/policy/schedule/checks.js';
import type { PolicyParseContext } from '../../src/policy/parse-policy.js';
import type { AgentPolicyFacts } from '../../src/policy/resolve-policy.js';

/** An agent with three repository targets, `ssd` the primary, for the policy tests; schedules checked by the scheduler's own parsers. */
export const TEST_PARSE_CONTEXT: PolicyParseContext = { targets: ['ssd', 'hdd', 'dr'], checks: SCHEDULE_CHECKS };

export const TEST_FACTS: AgentPolicyFacts = {
  targets: [
    { name: 'ssd', delay_s: 0 },
    { name: 'hdd', delay_s: 0 },
    { name: 'dr', delay_s: 300 },
  ],
  engine: 'auto',
};

/** The message of the InvalidArgument `refuse` throws; fails the test when it returns. */
export function refusalOf(refuse: () => unknown): string {
  let result: unknown;
  try {
    result = refuse();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgument);
    return (err as Error).message;
  }
  throw new Error(`accepted: ${JSON.stringify(result)}`);
}
