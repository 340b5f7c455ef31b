import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { withConsistentPoint } from '../../src/backup/quiesce.js';
import { GuestAgentUnavailable } from '../../src/errors.js';
import { recordingDomain } from '../support/recording-domain.js';

const log = pino({ level: 'silent' });
const guard = { watched: [] as string[], watch(uuid: string) { this.watched.push(uuid); } };
const settings = { freezeTimeoutSeconds: 1, thawTimeoutSeconds: 1, thawGuard: guard };
const noop = async () => undefined;

describe('withConsistentPoint', () => {
  it('freezes through the agent and thaws after the snapshot', async () => {
    const { domain, calls } = recordingDomain({ agentAnswers: true });
    const outcome = await withConsistentPoint(domain, 'auto', settings, log, noop, async () => void calls.push('snapshot'));
    expect(calls).toEqual(['freeze', 'snapshot', 'thaw']);
    expect(outcome.method).toBe('agent');
  });

  it('thaws even when the snapshot fails', async () => {
    const { domain, calls } = recordingDomain({ agentAnswers: true });
    await expect(
      withConsistentPoint(domain, 'agent', settings, log, noop, async () => {
        throw new Error('snapshot failed');
      }),
    ).rejects.toThrow('snapshot failed');
    expect(calls).toEqual(['freeze', 'thaw']);
  });

  it('falls back to suspend under auto, and resumes even when the snapshot fails', async () => {
    const { domain, calls, state } = recordingDomain({ agentAnswers: false });
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
    const { domain, calls } = recordingDomain({ agentAnswers: false });
    await expect(withConsistentPoint(domain, 'agent', settings, log, noop, noop)).rejects.toThrow(GuestAgentUnavailable);
    expect(calls).toEqual(['freeze']);
  });

  it('leaves a domain the operator paused as it is', async () => {
    const { domain, calls, state } = recordingDomain({ agentAnswers: true, state: 'paused' });
    const outcome = await withConsistentPoint(domain, 'suspend', settings, log, noop, async () => void calls.push('snapshot'));
    expect(calls).toEqual(['snapshot']);
    expect(state()).toBe('paused');
    expect(outcome).toEqual({ method: 'suspend', freezeMs: 0 });
  });

  it('does not ask a paused guest to freeze: auto snapshots as it is, agent refuses', async () => {
    const auto = recordingDomain({ agentAnswers: true, state: 'paused' });
    const outcome = await withConsistentPoint(auto.domain, 'auto', settings, log, noop, async () => void auto.calls.push('snapshot'));
    expect(auto.calls).toEqual(['snapshot']);
    expect(outcome).toEqual({ method: 'suspend', freezeMs: 0 });
    const agent = recordingDomain({ agentAnswers: true, state: 'paused' });
    await expect(withConsistentPoint(agent.domain, 'agent', settings, log, noop, noop)).rejects.toThrow(GuestAgentUnavailable);
    expect(agent.calls).toEqual([]);
  });

  it('journals the stop before it happens', async () => {
    const { domain } = recordingDomain({ agentAnswers: false });
    const stops: string[] = [];
    await withConsistentPoint(domain, 'auto', settings, log, async (m) => void stops.push(m), noop);
    expect(stops).toEqual(['agent', 'suspend']);
  });
});
