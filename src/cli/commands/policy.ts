import type { Command } from 'commander';
import { runPolicyCommand } from '../policy-command.js';
import { formatPolicy } from '../policy-format.js';
import { collect, examples, type CommandKit } from '../program.js';

/** `policy`: read a domain's, a project's or the default policy, or change a layer. */
export function registerPolicyCommand(program: Command, kit: CommandKit): void {
  program
    .command('policy')
    .description('the policy a domain (or a project; neither: the defaults) runs by, each key with the layer it came from')
    .argument('[domain]', 'a domain name or UUID')
    .option('--project <project>', "a project's layer instead of a domain's")
    .option('--set <key=value>', 'set a key (or a dotted path such as retention.max_count) in the layer; VALUE is JSON, else text (repeatable)', collect)
    .option('--unset <key>', 'remove a key from the layer (repeatable)', collect)
    .option('--clear', 'start from an empty layer: alone it removes the layer; with --set it replaces it')
    .addHelpText(
      'after',
      examples(
        'virt-dr policy web-01',
        'virt-dr policy --project 1f2e… --set schedule.interval_s=3600 --set retention.max_count=14',
        'virt-dr policy web-01 --set \'schedule={"cron":"0 22 * * 3","tz":"Europe/Berlin"}\'',
        'virt-dr policy web-01 --clear',
      ),
    )
    .action((domain: string | undefined, options: { project?: string; set?: string[]; unset?: string[]; clear?: boolean }, command: Command) =>
      kit.run(command, async (session) => {
        const request = { domain: domain ?? null, project: options.project ?? null, set: options.set ?? [], unset: options.unset ?? [], clear: options.clear === true };
        // The session's call brings --host and --timeout with it.
        const answer = await runPolicyCommand({ call: (method, args) => session.call(method, args) }, request, {});
        session.printRecord(answer as unknown as Record<string, unknown>, () => formatPolicy(answer));
      }),
    );
}
