import { parseArgs } from 'node:util';
import { loadConfig } from '../config.js';
import { formatBytes, progressBar } from './format.js';
import { runPolicyCommand } from './policy-command.js';
import { formatPolicy } from './policy-format.js';
import { RemoteError, RpcClient, type Notification } from '../bus/rpc-client.js';

const USAGE = `usage: virt-dr [--config FILE] [--host HOST] COMMAND
  ping                          ask an agent for its version and capabilities
  backup DOMAIN [--wait] [--mode auto|full|incremental] [--quiesce auto|agent|suspend|none]
                [--kind scheduled|manual] [--engine auto|checkpoint|snapshot] [--exclude DISK]...
                                scheduled (the default) extends the chain in the fast tier;
                                manual is a self-contained full in the manual tier
  restore DOMAIN BACKUP_ID [--new NAME] [--instant] [--resume] [--wait]
                                restore a point over the domain, or as a new domain NAME
  verify DOMAIN [BACKUP_ID]     re-read every point (or one) and check it; waits for the report
  rm DOMAIN BACKUP_ID           delete a point everywhere (merged into its child first); waits
  ls DOMAIN                     list a domain's backup points, each with the targets it is on
  failover DOMAIN --host DR [BACKUP_ID] [--force] [--wait]
                                run the domain on DR node DR from its newest point (or BACKUP_ID)
  failback DOMAIN --host DR [--wait]
                                send the domain home from DR node DR, with what it wrote there
  jobs [--state STATE]          list jobs
  job JOB_ID                    show one job
  cancel JOB_ID                 cancel a queued or running job
  policy [DOMAIN | --project P] [--set KEY=VALUE]... [--unset KEY]... [--clear] [--json]
                                the policy a domain (or a project; neither: the defaults) runs
                                by, each key with the layer it came from; --set, --unset and
                                --clear change the domain's (or project's) layer: KEY is a key
                                or a dotted path (retention.max_count), VALUE JSON or else text
--host sends the request to one agent (T.<host>) rather than any agent on the topic.`;

/** The `virt-dr` command: talks to agents over the bus with the agent's own config. */
export async function cli(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      host: { type: 'string' },
      wait: { type: 'boolean', default: false },
      mode: { type: 'string', default: 'auto' },
      quiesce: { type: 'string', default: 'auto' },
      kind: { type: 'string' },
      engine: { type: 'string' },
      exclude: { type: 'string', multiple: true, default: [] },
      new: { type: 'string' },
      instant: { type: 'boolean', default: false },
      resume: { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      state: { type: 'string' },
      project: { type: 'string' },
      set: { type: 'string', multiple: true, default: [] },
      unset: { type: 'string', multiple: true, default: [] },
      clear: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  const [command, target] = positionals;
  if (values.help || !command) {
    process.stdout.write(USAGE + '\n');
    return command ? 0 : 2;
  }
  const config = loadConfig({ file: values.config, env: process.env });
  const client = await RpcClient.connect({
    url: config.bus.url,
    exchange: config.bus.exchange,
    topic: config.bus.topic,
    notificationTopic: config.bus.notification_topics[0] ?? 'notifications',
    durableExchange: config.bus.amqp_durable_queues || config.bus.rabbit_quorum_queue,
  });
  const server = values.host ? { server: values.host } : {};
  try {
    switch (command) {
      case 'ping':
        print(await client.call('ping', {}, { timeoutMs: 15_000, ...server }));
        return 0;
      case 'ls': {
        const { backups } = await client.call<{ backups: Record<string, unknown>[] }>('list_backups', { domain: need(target, 'DOMAIN') }, server);
        for (const b of backups) {
          process.stdout.write(
            `${b.backup_id}  ${String(b.mode).padEnd(11)} ${String(b.kind).padEnd(9)} ${String(b.quiesce).padEnd(7)} ${String(b.freeze_ms).padStart(5)} ms  ${formatBytes(Number(b.bytes)).padStart(10)}  ${(b.targets as string[] | undefined)?.join(',') ?? ''}\n`,
          );
        }
        return 0;
      }
      case 'jobs':
        print(await client.call('list_jobs', { state: values.state ?? null }, server));
        return 0;
      case 'job':
        print(await client.call('get_job', { job_id: need(target, 'JOB_ID') }, server));
        return 0;
      case 'cancel':
        print(await client.call('cancel_job', { job_id: need(target, 'JOB_ID') }, server));
        return 0;
      case 'policy': {
        const command = { domain: target ?? null, project: values.project ?? null, set: values.set, unset: values.unset, clear: values.clear };
        const answer = await runPolicyCommand(client, command, server);
        if (values.json) print(answer);
        else process.stdout.write(formatPolicy(answer).join('\n') + '\n');
        return 0;
      }
      case 'backup': {
        const domain = need(target, 'DOMAIN');
        const args = {
          domain,
          mode: values.mode,
          quiesce: values.quiesce,
          kind: values.kind ?? null,
          engine: values.engine ?? null,
          exclude_disks: values.exclude,
        };
        return await startJob(client, { method: 'backup', action: 'backup', args, label: `backup of ${domain}` }, values.wait, server);
      }
      case 'restore': {
        const [domain, backupId] = [need(target, 'DOMAIN'), need(positionals[2], 'BACKUP_ID')];
        const args = {
          domain,
          backup_id: backupId,
          target: values.new ? 'new' : 'replace',
          new_name: values.new ?? null,
          instant: values.instant,
          resume: values.resume,
        };
        return await startJob(client, { method: 'restore', action: 'restore', args, label: `restore of ${domain}` }, values.wait, server);
      }
      case 'verify': {
        const domain = need(target, 'DOMAIN');
        const args = { domain, backup_id: positionals[2] ?? null };
        return await startJob(client, { method: 'verify', action: 'verify', args, label: `verify of ${domain}` }, true, server);
      }
      case 'rm': {
        const [domain, backupId] = [need(target, 'DOMAIN'), need(positionals[2], 'BACKUP_ID')];
        const args = { domain, backup_id: backupId };
        return await startJob(client, { method: 'delete_backup', action: 'delete', args, label: `delete of ${backupId}` }, true, server);
      }
      case 'failover': {
        // A DR node takes requests on its own queue only: --host names it.
        if (!values.host) throw new Error(`failover needs --host, the DR node's agent\n${USAGE}`);
        const domain = need(target, 'DOMAIN');
        const args = { domain, backup_id: positionals[2] ?? null, force: values.force };
        return await startJob(client, { method: 'failover', action: 'failover', args, label: `failover of ${domain}` }, values.wait, server);
      }
      case 'failback': {
        if (!values.host) throw new Error(`failback needs --host, the DR node's agent\n${USAGE}`);
        const domain = need(target, 'DOMAIN');
        return await startJob(client, { method: 'failback', action: 'failback', args: { domain }, label: `failback of ${domain}` }, values.wait, server);
      }
      default:
        process.stderr.write(`virt-dr: unknown command ${command}\n${USAGE}\n`);
        return 2;
    }
  } catch (err) {
    process.stderr.write(`virt-dr: ${err instanceof RemoteError ? err.message : (err as Error).message}\n`);
    return 1;
  } finally {
    await client.close();
  }
}

/** A job method's call: with --wait (or for commands that always wait) it follows the job. */
async function startJob(
  client: RpcClient,
  job: { method: string; action: string; args: Record<string, unknown>; label: string },
  wait: boolean,
  server: { server?: string },
): Promise<number> {
  if (!wait) {
    print(await client.call(job.method, job.args, server));
    return 0;
  }
  // Listen before asking, so not even the start notification is missed.
  let jobId: string | null = null;
  const early: Notification[] = [];
  let settle: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => (settle = resolve));
  const event = (suffix: string) => `virt_dr.${job.action}.${suffix}`;
  const onEvent = (n: Notification) => {
    if (jobId === null) {
      early.push(n);
      return;
    }
    if (n.payload.job_id !== jobId) return;
    if (n.event_type === event('progress')) {
      const line = progressBar(Number(n.payload.bytes_done), Number(n.payload.bytes_total), Number(n.payload.rate_bytes_per_s));
      process.stdout.write(process.stdout.isTTY ? `\r${line}` : `${line}\n`);
    } else if (n.event_type === event('start')) {
      process.stdout.write(`${job.label} ${jobId} started\n`);
    } else if (n.event_type === event('end')) {
      if (process.stdout.isTTY) process.stdout.write('\n');
      print(n.payload.result);
      settle(0);
    } else if (n.event_type === event('error')) {
      if (process.stdout.isTTY) process.stdout.write('\n');
      const error = n.payload.error as { class?: string; message?: string } | null;
      process.stderr.write(`virt-dr: ${job.label} failed: ${error?.class ?? 'Error'}: ${error?.message ?? 'unknown'}\n`);
      settle(1);
    }
  };
  await client.watchNotifications(onEvent);
  const accepted = await client.call<{ job_id: string }>(job.method, job.args, server);
  jobId = accepted.job_id;
  early.splice(0).forEach(onEvent);
  return finished;
}

function need(value: string | undefined, name: string): string {
  if (!value) throw new Error(`missing ${name}\n${USAGE}`);
  return value;
}

function print(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}
