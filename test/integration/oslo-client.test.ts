/**
 * THE REAL CLIENT against THE REAL AGENT: Debian's python3-oslo.messaging 14 (run with
 * /usr/bin/python3) calls the built agent (child process) over RabbitMQ — ping, backup
 * with wait=False, get_job until finished — while a real oslo notification listener
 * receives the job's virt_dr.backup.start and virt_dr.backup.end. A real TCG guest with
 * qemu-ga is backed up.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBackupId } from '../../src/util/ids.js';
import { VERSION } from '../../src/version.js';
import type { RpcClient } from '../../src/bus/rpc-client.js';
import { startGuestAndAgent, stopGuestAndAgent } from '../support/guest-and-agent.js';
import { AgentProcess } from '../support/agent-process.js';
import { domainState, type TestGuest } from '../support/guest.js';
import { RABBIT_URL, SYSTEM_PYTHON, cleanupTopology } from '../support/rabbit.js';

const GUEST = 'vdr-pyclient';
const agent = new AgentProcess('pyclient', '/var/lib/virt-dr-test/pyclient', {
  // A notification topic of its own: the oslo listener consumes the shared
  // <topic>.<priority> queues, as oslo listeners do, and must not compete with anyone.
  VIRT_DR_BUS_NOTIFICATION_TOPICS: 'virt_dr_test_pyclient_notifications',
});
const NOTIFY_TOPIC = 'virt_dr_test_pyclient_notifications';
const NOTIFY_QUEUES = ['audit', 'critical', 'debug', 'error', 'info', 'sample', 'warn'].map((p) => `${NOTIFY_TOPIC}.${p}`);
/** The agent's queues: T, T.S and every T_fanout_<uuid> an earlier start left behind. */
const PUBLISHER = `virt-dr.${agent.host}`;
const REQUEST_ID = `req-${process.pid}-${Date.now().toString(36)}-pyclient`;
const CLIENT_PY = fileURLToPath(new URL('../support/oslo/agent_client.py', import.meta.url));
const LISTENER_PY = fileURLToPath(new URL('../support/oslo/listener.py', import.meta.url));
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let guest: TestGuest;
let client: RpcClient;

interface PyProcess {
  lines: any[];
  stderr: () => string;
  exited: Promise<number | null>;
  kill: () => void;
}

/** Runs a script with Debian's python (argv array, no shell); collects its JSON lines. */
function runPython(script: string, args: string[], timeoutMs: number): PyProcess {
  const child = spawn(SYSTEM_PYTHON, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: any[] = [];
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: child.stdout }).on('line', (line) => {
    try {
      lines.push(JSON.parse(line));
    } catch {
      stderr += `(non-JSON stdout) ${line}\n`;
    }
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${path.basename(script)} timed out after ${timeoutMs} ms; stdout: ${JSON.stringify(lines)}; stderr:\n${stderr}`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  return { lines, stderr: () => stderr, exited, kill: () => child.kill('SIGKILL') };
}

async function waitFor(pred: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the real oslo.messaging client and listener against the real agent', () => {
  beforeAll(async () => {
    await cleanupTopology(NOTIFY_QUEUES, []);
    ({ guest, client } = await startGuestAndAgent(agent, { name: GUEST, dataDiskMiB: 64 }));
  });

  afterAll(async () => {
    await stopGuestAndAgent(agent, GUEST, client);
    await cleanupTopology(NOTIFY_QUEUES, []);
  });

  it('pings, backs up and polls get_job; the listener sees backup.start and backup.end', async () => {
    const listener = runPython(
      LISTENER_PY,
      [
        '--url', RABBIT_URL,
        '--exchange', agent.exchange,
        '--topic', NOTIFY_TOPIC,
        '--publisher-id', PUBLISHER,
        '--until', 'virt_dr.backup.end',
        '--until', 'virt_dr.backup.error',
        '--timeout', '280',
      ],
      300_000,
    );
    let client: PyProcess | null = null;
    try {
      await waitFor(() => listener.lines.some((l) => l.ready === true), 30_000, () => `listener ready; stderr:\n${listener.stderr()}`);
      client = runPython(
        CLIENT_PY,
        [
          '--url', RABBIT_URL,
          '--exchange', agent.exchange,
          '--topic', agent.topic,
          '--server', agent.host,
          '--domain', GUEST,
          '--request-id', REQUEST_ID,
          '--job-timeout', '240',
        ],
        280_000,
      );
      const clientCode = await client.exited;
      const steps = new Map(client.lines.map((l) => [l.step as string, l]));
      expect(clientCode, `agent_client.py: ${JSON.stringify(client.lines)}\n${client.stderr()}`).toBe(0);

      // ping, on the shared topic and on this host's queue
      for (const step of ['ping', 'ping_server']) {
        const pong = steps.get(step);
        expect(pong, step).toMatchObject({ ok: true });
        expect(pong.result.host).toBe(agent.host);
        expect(pong.result.version).toBe(VERSION);
        expect(pong.result.libvirt_version).toMatch(/^\d+\.\d+\.\d+$/);
        expect(pong.result.roles).toEqual(expect.arrayContaining(['compute']));
        expect(pong.result.capabilities).toEqual(expect.arrayContaining(['backup', 'backup.incremental', 'quiesce.agent']));
        expect(Object.keys(pong.result).sort()).toEqual(expect.arrayContaining(['capabilities', 'host', 'libvirt_version', 'roles', 'version']));
      }

      // backup(wait=False) answers at once with a job id
      const accepted = steps.get('backup');
      expect(accepted).toMatchObject({ ok: true });
      const jobId: string = accepted.result.job_id;
      expect(jobId).toMatch(UUID);

      // get_job, polled until finished: a succeeded full backup
      const polled = steps.get('get_job');
      expect(polled, JSON.stringify(client.lines)).toMatchObject({ ok: true });
      const job = polled.result;
      expect(job.error, JSON.stringify(job.error)).toBeNull();
      expect(job).toMatchObject({ job_id: jobId, action: 'backup', domain: GUEST, state: 'succeeded' });
      expect(job.created_at).toBeTruthy();
      expect(job.started_at).toBeTruthy();
      expect(job.finished_at).toBeTruthy();
      expect(job).not.toHaveProperty('request');
      const point = job.result;
      expect(point).toMatchObject({ domain_uuid: guest.uuid, mode: 'full', parent: null, kind: 'scheduled', tier: 'fast', quiesce: 'agent' });
      expect(isBackupId(point.backup_id), point.backup_id).toBe(true);
      expect(point.disks).toHaveLength(1);
      expect(point.disks[0]).toMatchObject({ target: 'vda', virtual_size: 64 << 20 });
      expect(point.disks[0].sha256).toMatch(/^[0-9a-f]{64}$/);
      const file = path.join(agent.repoPath, point.domain_uuid, point.backup_id, point.disks[0].file);
      expect(createHash('sha256').update(await readFile(file)).digest('hex')).toBe(point.disks[0].sha256);

      // The listener saw the job start and end, under the caller's request_id.
      expect(await listener.exited, `listener.py: ${listener.stderr()}`).toBe(0);
      const seen = listener.lines.filter((l) => l.ready !== true);
      expect(seen.every((l) => l.publisher_id === PUBLISHER)).toBe(true);
      const ofJob = seen.filter((l) => l.payload?.job_id === jobId);
      const types = ofJob.map((l) => l.event_type as string);
      expect(types).not.toContain('virt_dr.backup.error');
      const start = ofJob.find((l) => l.event_type === 'virt_dr.backup.start');
      const end = ofJob.find((l) => l.event_type === 'virt_dr.backup.end');
      expect(start, `events: ${types.join(', ')}`).toBeDefined();
      expect(end, `events: ${types.join(', ')}`).toBeDefined();
      expect(types.indexOf('virt_dr.backup.start')).toBeLessThan(types.indexOf('virt_dr.backup.end'));
      for (const ev of [start, end]) {
        expect(ev.priority).toBe('INFO');
        expect(ev.ctxt).toMatchObject({ request_id: REQUEST_ID, project_id: 'p-oslo', user: 'u-oslo' });
        expect(Object.keys(ev.ctxt).filter((k) => /token|password|secret/i.test(k))).toEqual([]);
        expect(ev.metadata.message_id).toMatch(UUID);
        expect(ev.metadata.timestamp).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/);
        expect(ev.payload).toMatchObject({ job_id: jobId, action: 'backup', domain: GUEST });
      }
      expect(start.payload.state).toBe('running');
      expect(end.payload).toMatchObject({ state: 'succeeded', error: null, result: { backup_id: point.backup_id, mode: 'full' } });
      for (const ev of ofJob.filter((l) => l.event_type === 'virt_dr.backup.progress')) {
        expect(ev.ctxt.request_id).toBe(REQUEST_ID);
      }

      // The caller's token went nowhere: not onto the bus (above), not into the journal.
      const journal = path.join(agent.statePath, 'jobs');
      for (const name of await readdir(journal)) {
        expect(await readFile(path.join(journal, name), 'utf8'), name).not.toContain('tok-SECRET');
      }
      expect(await domainState(GUEST)).toBe('running');
    } finally {
      listener.kill();
      client?.kill();
    }
  });
});
