import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { withConsistentPoint } from '../../src/backup/quiesce.js';
import { GuestAgentUnavailable, HypervisorError } from '../../src/errors.js';
import type { HypervisorDomain, RunState } from '../../src/libvirt/hypervisor.js';

/** A domain that records what was done to it; the agent may be made to fail. */
function fakeDomain(options: { agentAnswers: boolean; state?: RunState }) {
  const calls: string[] = [];
  let state: RunState = options.state ?? 'running';
  const domain = {
    name: 'vm',
    uuid: '0b5c3f5e-0000-4000-8000-000000000001',
    async freezeFilesystems() {
      calls.push('freeze');
      if (!options.agentAnswers) throw new HypervisorError('agent unresponsive', true, { code: 86, domain: 10, message: 'x' });
    },
    async thawFilesystems() {
      calls.push('thaw');
      return 1;
    },
    async suspend() {
      calls.push('suspend');
      state = 'paused';
    },
    async resume() {
      calls.push('resume');
      state = 'running';
    },
    async runState() {
      return state;
    },
  } as unknown as HypervisorDomain;
  return { domain, calls, state: () => state };
}

const log = pino({ level: 'silent' });
const guard = { watched: [] as string[], watch(uuid: string) { this.watched.push(uuid); } };
const settings = { freezeTimeoutSeconds: 1, thawTimeoutSeconds: 1, thawGuard: guard };
const noop = async () => undefined;

describe('withConsistentPoint', () => {
  it('freezes through the agent and thaws after the snapshot', async () => {
    const { domain, calls } = fakeDomain({ agentAnswers: true });
    const outcome = await withConsistentPoint(domain, 'auto', settings, log, noop, async () => void calls.push('snapshot'));
    expect(calls).toEqual(['freeze', 'snapshot', 'thaw']);
    expect(outcome.method).toBe('agent');
  });

  it('thaws even when the snapshot fails', async () => {
    const { domain, calls } = fakeDomain({ agentAnswers: true });
    await expect(
      withConsistentPoint(domain, 'agent', settings, log, noop, async () => {
        throw new Error('snapshot failed');
      }),
    ).rejects.toThrow('snapshot failed');
    expect(calls).toEqual(['freeze', 'thaw']);
  });

  it('falls back to suspend under auto, and resumes even when the snapshot fails', async () => {
    const { domain, calls, state } = fakeDomain({ agentAnswers: false });
    await expect(
      withConsistentPoint(domain, 'auto', settings, log, noop, async () => {
        throw new Error('snapshot failed');
      }),
    ).rejects.toThrow('snapshot failed');
    expect(calls).toEqual(['freeze', 'suspend', 'resume']);
    expect(state()).toBe('running');
    // A late freeze could still land: the guard keeps thawing.
    expect(guard.watched).toContain('0b5c3f5e-0000-4000-8000-000000000001');
  });

  it('fails with GuestAgentUnavailable under agent, without pausing', async () => {
    const { domain, calls } = fakeDomain({ agentAnswers: false });
    await expect(withConsistentPoint(domain, 'agent', settings, log, noop, noop)).rejects.toThrow(GuestAgentUnavailable);
    expect(calls).toEqual(['freeze']);
  });

  it('leaves a domain the operator paused as it is', async () => {
    const { domain, calls, state } = fakeDomain({ agentAnswers: true, state: 'paused' });
    const outcome = await withConsistentPoint(domain, 'suspend', settings, log, noop, async () => void calls.push('snapshot'));
    expect(calls).toEqual(['snapshot']);
    expect(state()).toBe('paused');
    expect(outcome).toEqual({ method: 'suspend', freezeMs: 0 });
  });

  it('does not ask a paused guest to freeze: auto snapshots as it is, agent refuses', async () => {
    const auto = fakeDomain({ agentAnswers: true, state: 'paused' });
    const outcome = await withConsistentPoint(auto.domain, 'auto', settings, log, noop, async () => void auto.calls.push('snapshot'));
    expect(auto.calls).toEqual(['snapshot']);
    expect(outcome).toEqual({ method: 'suspend', freezeMs: 0 });
    const agent = fakeDomain({ agentAnswers: true, state: 'paused' });
    await expect(withConsistentPoint(agent.domain, 'agent', settings, log, noop, noop)).rejects.toThrow(GuestAgentUnavailable);
    expect(agent.calls).toEqual([]);
  });

  it('journals the stop before it happens', async () => {
    const { domain } = fakeDomain({ agentAnswers: false });
    const stops: string[] = [];
    await withConsistentPoint(domain, 'auto', settings, log, async (m) => void stops.push(m), noop);
    expect(stops).toEqual(['agent', 'suspend']);
  });
});
