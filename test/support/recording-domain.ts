import { HypervisorError } from '../../src/errors.js';
import type { HypervisorDomain, RunState } from '../../src/libvirt/hypervisor.js';

/**
 * A fake HypervisorDomain for unit tests of pure logic: it records what was done to it
 * (`calls`), pauses and resumes like a domain does, and its guest agent can be made not
 * to answer. Its XML is a domain without disks.
 */
export function recordingDomain(options: { uuid?: string; state?: RunState; agentAnswers?: boolean } = {}) {
  const uuid = options.uuid ?? '0b5c3f5e-0000-4000-8000-000000000001';
  const calls: string[] = [];
  let state: RunState = options.state ?? 'running';
  const domain = {
    name: 'vm',
    uuid,
    async xml() {
      return `<domain><name>vm</name><uuid>${uuid}</uuid><devices></devices></domain>`;
    },
    async runState() {
      return state;
    },
    async freezeFilesystems() {
      calls.push('freeze');
      if (options.agentAnswers === false) {
        throw new HypervisorError('agent unresponsive', true, { code: 86, domain: 10, message: 'x' });
      }
    },
    async thawFilesystems() {
      calls.push('thaw');
      return 0;
    },
    async suspend() {
      calls.push('suspend');
      state = 'paused';
    },
    async resume() {
      calls.push('resume');
      state = 'running';
    },
  } as unknown as HypervisorDomain;
  return { domain, calls, state: () => state };
}
