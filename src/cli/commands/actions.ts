import { Option, type Command } from 'commander';
import { UsageError } from '../exit-codes.js';
import { followJobs, startJobs, type JobRequest } from '../follow-jobs.js';
import { collect, examples, type CommandKit } from '../program.js';
import type { CliSession } from '../session.js';

/** Accepted at once, or followed to the end with --wait. */
function jobs(session: CliSession, wait: boolean | undefined, requests: readonly JobRequest[]) {
  return wait ? followJobs(session, requests) : startJobs(session, requests);
}

const WAIT = '--wait';
const WAIT_HELP = 'follow the job to its end: progress, then its result (exit 1 if it fails)';

/** The actions that start jobs on a domain: `backup`, `restore`, `failover`, `failback`. */
export function registerActionCommands(program: Command, kit: CommandKit): void {
  program
    .command('backup')
    .description('back up one or more domains: a consistent point, full or incremental, into the repository')
    .argument('<domain...>', 'domain names or UUIDs; one job each')
    .option(WAIT, WAIT_HELP)
    .addOption(new Option('--mode <mode>', 'full, incremental, or auto (incremental when the chain allows)').choices(['auto', 'full', 'incremental']).default('auto'))
    .addOption(new Option('--quiesce <how>', 'freeze through the guest agent, suspend, none, or auto').choices(['auto', 'agent', 'suspend', 'none']).default('auto'))
    .addOption(new Option('--kind <kind>', 'scheduled extends the chain in the fast tier; manual is a self-contained full in the manual tier').choices(['scheduled', 'manual']))
    .addOption(new Option('--engine <engine>', 'the backup engine (default: the policy\'s, else auto)').choices(['auto', 'checkpoint', 'snapshot']))
    .option('--exclude <disk>', 'leave out this disk target (repeatable)', collect)
    .addHelpText('after', examples('virt-dr backup web-01 --wait', 'virt-dr backup web-01 web-02 db-01 --wait', 'virt-dr backup web-01 --kind manual --exclude vdb'))
    .action((domains: string[], options: { wait?: boolean; mode: string; quiesce: string; kind?: string; engine?: string; exclude?: string[] }, command: Command) =>
      kit.run(command, (session) =>
        jobs(
          session,
          options.wait,
          domains.map((domain) => ({
            method: 'backup',
            action: 'backup',
            args: { domain, mode: options.mode, quiesce: options.quiesce, kind: options.kind ?? null, engine: options.engine ?? null, exclude_disks: options.exclude ?? [] },
            label: `backup of ${domain}`,
          })),
        ),
      ),
    );

  program
    .command('restore')
    .description('restore a point over its domain, or as a new domain')
    .argument('<domain>', 'a domain name or UUID')
    .argument('<backup-id>', 'the point to restore')
    .option('--new <name>', 'define a new domain NAME instead of replacing the domain')
    .option('--instant', 'start the domain on the point at once and copy its disks while it runs')
    .option('--resume', "with --instant: finish an instant restore's copy that was cut off (the domain keeps running)")
    .option(WAIT, `${WAIT_HELP}; shows the phases (copying, defining, starting, pivoting)`)
    .addHelpText('after', examples('virt-dr restore web-01 20261129T101500Z-3f2a --wait', 'virt-dr restore web-01 20261129T101500Z-3f2a --new web-01-check --instant --wait'))
    .action((domain: string, backupId: string, options: { new?: string; instant?: boolean; resume?: boolean; wait?: boolean }, command: Command) =>
      kit.run(command, (session) =>
        jobs(session, options.wait, [
          {
            method: 'restore',
            action: 'restore',
            args: { domain, backup_id: backupId, target: options.new ? 'new' : 'replace', new_name: options.new ?? null, instant: options.instant === true, resume: options.resume === true },
            label: `restore of ${domain}`,
          },
        ]),
      ),
    );

  program
    .command('failover')
    .description("run a lost host's domain on a DR node, from its newest point there (or BACKUP_ID); needs --host DR")
    .argument('<domain>', 'a domain name or UUID')
    .argument('[backup-id]', 'the point to run from (default: the newest the DR node holds)')
    .option('--force', 'even when the domain may still run on its home host')
    .option(WAIT, `${WAIT_HELP}; shows the phases`)
    .addHelpText('after', examples('virt-dr failover web-01 --host dr-01 --wait', 'virt-dr failover web-01 20261129T101500Z-3f2a --host dr-01 --force'))
    .action((domain: string, backupId: string | undefined, options: { force?: boolean; wait?: boolean }, command: Command) =>
      kit.run(command, (session) =>
        jobs(session, options.wait, [
          { method: 'failover', action: 'failover', args: { domain, backup_id: backupId ?? null, force: options.force === true }, label: `failover of ${domain}` },
        ]),
      ),
    );

  program
    .command('failback')
    .description('send a failed-over domain home from the DR node, with what it wrote there; needs --host DR')
    .argument('<domain>', 'a domain name or UUID')
    .option(WAIT, `${WAIT_HELP}; shows the phases`)
    .addHelpText('after', examples('virt-dr failback web-01 --host dr-01 --wait'))
    .action((domain: string, options: { wait?: boolean }, command: Command) =>
      kit.run(command, (session) => jobs(session, options.wait, [{ method: 'failback', action: 'failback', args: { domain }, label: `failback of ${domain}` }])),
    );

  // A DR node takes requests on its own queue only: any agent on the topic is the wrong one.
  for (const name of ['failover', 'failback']) {
    program.commands
      .find((command) => command.name() === name)!
      .hook('preAction', (_command, action) => {
        if (!action.optsWithGlobals().host) throw new UsageError(`${name} needs --host, the DR node's agent`);
      });
  }
}
