import { expect } from 'vitest';
import { InvalidArgument } from '../../src/errors.js';
import { BASIC_SCHEDULE_CHECKS } from '../../src/policy/basic-schedule-checks.js';
import type { PolicyParseContext, ScheduleChecks } from '../../src/policy/parse-policy.js';
import type { AgentPolicyFacts } from '../../src/policy/resolve-policy.js';

/**
 * An agent with three repository targets, `ssd` the primary, for the policy tests. Its
 * cron check is the basic one plus a range check of the hour field, standing in for the
 * scheduler's parser so messages that name a field's range can be tested.
 */
export const TEST_CHECKS: ScheduleChecks = {
  cron(expression) {
    const basic = BASIC_SCHEDULE_CHECKS.cron(expression);
    if (basic !== null) return basic;
    const hour = expression.trim().split(/\s+/)[1]!;
    return /^\d+$/.test(hour) && Number(hour) > 23 ? `hour ${hour} is outside 0-23` : null;
  },
  timeZone: BASIC_SCHEDULE_CHECKS.timeZone,
};

export const TEST_PARSE_CONTEXT: PolicyParseContext = { targets: ['ssd', 'hdd', 'dr'], checks: TEST_CHECKS };

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
