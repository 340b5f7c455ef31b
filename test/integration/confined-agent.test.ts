import { access, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RpcClient } from '../../src/bus/rpc-client.js';
import { backupPoint } from '../support/backup-api.js';
import { AgentProcess } from '../support/agent-process.js';
import { startGuestAndAgent, stopGuestAndAgent } from '../support/guest-and-agent.js';
import { guestWriteRandomFile } from '../support/guest.js';
import { projectRoot } from '../support/project-root.js';

/**
 * The agent under the confinement of deploy/virt-dr-agent.service, read from the unit
 * itself: this host has no systemd, so test/support/confined.sh builds the same fence (a
 * read-only file system but the unit's ReadWritePaths, a private /tmp, its UMask, no new
 * privileges, its capability bounding set). libvirt, qemu-img and setfacl must all still
 * work: both engines take a full and an incremental.
 */
const ROOT = projectRoot(import.meta.url);
const GUEST = 'vdr-confined';

async function unitDirectives(): Promise<Map<string, string>> {
  const text = await readFile(path.join(ROOT, 'deploy', 'virt-dr-agent.service'), 'utf8');
  return new Map(text.split('\n').filter((l) => /^[A-Za-z]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

/** The unit's writable paths that exist here ("-" marks a path systemd skips when missing). */
async function writablePaths(value: string): Promise<string[]> {
  const paths: string[] = [];
  for (const entry of value.split(' ')) {
    const optional = entry.startsWith('-');
    const p = optional ? entry.slice(1) : entry;
    const exists = await access(p).then(() => true, () => false);
    if (exists || !optional) paths.push(p);
  }
  return paths;
}

let agent: AgentProcess;
let client: RpcClient;

describe('the agent confined as its systemd unit confines it', () => {
  beforeAll(async () => {
    const unit = await unitDirectives();
    const launcher = [
      'bash',
      path.join(ROOT, 'test', 'support', 'confined.sh'),
      ...(await writablePaths(unit.get('ReadWritePaths')!)).flatMap((p) => ['--rw', p]),
      '--keep',
      ROOT,
      '--caps',
      unit.get('CapabilityBoundingSet')!.split(' ').join(','),
      '--umask',
      unit.get('UMask')!,
      '--',
    ];
    // The unit's repository and state live under /var/lib/virt-dr, one of its writable paths.
    agent = new AgentProcess('confined', '/var/lib/virt-dr/test-confined', {}, launcher);
    ({ client } = await startGuestAndAgent(agent, { name: GUEST, dataDiskMiB: 128 }));
  });
  afterAll(() => stopGuestAndAgent(agent, GUEST, client));

  it('really runs fenced: its own mount namespace, no new privileges, three capabilities', async () => {
    const pid = agent.child!.pid!;
    expect(await readlink(`/proc/${pid}/ns/mnt`)).not.toBe(await readlink('/proc/self/ns/mnt'));
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
    // CAP_DAC_OVERRIDE (1), CAP_DAC_READ_SEARCH (2), CAP_FOWNER (3): 0xe.
    expect(status).toMatch(/^CapBnd:\s+000000000000000e$/m);
  });

  it.each(['checkpoint', 'snapshot'])('the %s engine takes a full and an incremental', async (engine) => {
    const full = await backupPoint(client, GUEST, { engine, mode: 'full' });
    await guestWriteRandomFile(GUEST, `/data/${engine}.bin`, 2 << 20);
    const next = await backupPoint(client, GUEST, { engine });
    expect([full.mode, next.mode, next.parent]).toEqual(['full', 'incremental', full.backup_id]);
  });
});
