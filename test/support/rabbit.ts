/**
 * Test helpers for a real local RabbitMQ: start it if needed (fail loudly if it will not
 * come up), run rabbitmqctl, and clean up what a test declared.
 */
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import amqp from 'amqplib';

const execFileP = promisify(execFile);

export const RABBIT_URL = process.env.VIRT_DR_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672/';
/** Debian's python with python3-oslo.messaging (not the pyenv one on PATH). */
export const SYSTEM_PYTHON = '/usr/bin/python3';

function statusOk(): boolean {
  const r = spawnSync('rabbitmqctl', ['status'], { stdio: 'ignore', timeout: 30_000 });
  return r.status === 0;
}

/** Ensures a broker answers; starts `rabbitmq-server -detached` if not. Throws if it cannot. */
export async function ensureRabbit(timeoutMs = 60_000): Promise<void> {
  if (statusOk() && (await canConnect())) return;
  if (!statusOk()) {
    const r = spawnSync('rabbitmq-server', ['-detached'], { encoding: 'utf8', timeout: 30_000 });
    if (r.error) throw new Error(`cannot start rabbitmq-server: ${r.error.message}`);
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (statusOk() && (await canConnect())) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`RabbitMQ did not come up within ${timeoutMs} ms (rabbitmqctl status keeps failing)`);
}

async function canConnect(): Promise<boolean> {
  try {
    const c = await amqp.connect(RABBIT_URL);
    await c.close();
    return true;
  } catch {
    return false;
  }
}

export async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await execFileP('rabbitmqctl', args, { timeout: 60_000 });
  return stdout;
}

/** Deletes queues and exchanges; ignores ones that are already gone. */
export async function cleanupTopology(queues: string[], exchanges: string[]): Promise<void> {
  const conn = await amqp.connect(RABBIT_URL);
  try {
    for (const q of queues) {
      const ch = await conn.createChannel();
      ch.on('error', () => {});
      await ch.deleteQueue(q).catch(() => {});
      await ch.close().catch(() => {});
    }
    for (const e of exchanges) {
      const ch = await conn.createChannel();
      ch.on('error', () => {});
      await ch.deleteExchange(e).catch(() => {});
      await ch.close().catch(() => {});
    }
  } finally {
    await conn.close().catch(() => {});
  }
}
