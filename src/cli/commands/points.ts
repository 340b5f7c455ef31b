import type { Command } from 'commander';
import { followJobs } from '../follow-jobs.js';
import { examples, type CommandKit } from '../program.js';
import { pointColumns } from '../views.js';

type Point = Record<string, unknown>;

/** The points of a domain: `ls`, `show`, `verify`, `rm`. */
export function registerPointCommands(program: Command, kit: CommandKit): void {
  program
    .command('ls')
    .description("a domain's backup points, oldest first: mode, engine, kind, tier, age, size, freeze and targets")
    .argument('<domain>', 'a domain name or UUID')
    .addHelpText('after', examples('virt-dr ls web-01', 'virt-dr ls web-01 -o wide', "virt-dr ls web-01 --json | jq -r '.backups[-1].backup_id'"))
    .action((domain: string, _options, command: Command) =>
      kit.run(command, async (session) => {
        const answer = await session.call<{ backups: Point[] }>('list_backups', { domain });
        session.printTable(answer, answer.backups, pointColumns(Date.now(), session.wide));
      }),
    );

  program
    .command('show')
    .description('one backup point: every field, and its disks')
    .argument('<domain>', 'a domain name or UUID')
    .argument('<backup-id>', 'the point (virt-dr ls shows them)')
    .addHelpText('after', examples('virt-dr show web-01 20261129T101500Z-3f2a', 'virt-dr show web-01 20261129T101500Z-3f2a --json'))
    .action((domain: string, backupId: string, _options, command: Command) =>
      kit.run(command, async (session) => {
        const point = await session.call<Point>('get_backup', { domain, backup_id: backupId });
        session.printRecord(point);
      }),
    );

  program
    .command('verify')
    .description("re-read every point of a domain (or one) and check each file's sha256; waits for the report")
    .argument('<domain>', 'a domain name or UUID')
    .argument('[backup-id]', 'only this point')
    .addHelpText('after', examples('virt-dr verify web-01', 'virt-dr verify web-01 20261129T101500Z-3f2a --json'))
    .action((domain: string, backupId: string | undefined, _options, command: Command) =>
      kit.run(command, (session) =>
        followJobs(session, [{ method: 'verify', action: 'verify', args: { domain, backup_id: backupId ?? null }, label: `verify of ${domain}` }]),
      ),
    );

  program
    .command('rm')
    .description('delete a point from every target that holds it (merged into its child first); waits')
    .argument('<domain>', 'a domain name or UUID')
    .argument('<backup-id>', 'the point to delete')
    .addHelpText('after', examples('virt-dr rm web-01 20261129T101500Z-3f2a'))
    .action((domain: string, backupId: string, _options, command: Command) =>
      kit.run(command, (session) =>
        followJobs(session, [{ method: 'delete_backup', action: 'delete', args: { domain, backup_id: backupId }, label: `delete of ${backupId}` }]),
      ),
    );
}
