import type { Command } from 'commander';
import { RemoteError } from '../../bus/rpc-client.js';
import { ExitCode } from '../exit-codes.js';
import { examples, type CommandKit } from '../program.js';
import { hostColumns } from '../views.js';

/** How long `hosts` listens for answers when --timeout is not given. */
const HOSTS_WINDOW_S = 3;

/** `ping` (one agent) and `hosts` (every agent that answers). */
export function registerAgentCommands(program: Command, kit: CommandKit): void {
  program
    .command('ping')
    .description("one agent's host, version, libvirt version, roles, capabilities and worst RPO")
    .addHelpText('after', examples('virt-dr ping', 'virt-dr --host compute-07 ping --json'))
    .action((_options, command: Command) =>
      kit.run(command, async (session) => {
        session.printRecord(await session.call<Record<string, unknown>>('ping', {}));
      }),
    );

  program
    .command('hosts')
    .description('every agent on the topic that answers within the window: roles, version and worst RPO')
    .addHelpText('after', `\nIt asks all agents at once (the topic's fanout exchange) and lists those that answer\nwithin --timeout seconds (default ${HOSTS_WINDOW_S}). None answering is exit 3.${examples('virt-dr hosts', 'virt-dr hosts -o wide --timeout 10')}`)
    .action((_options, command: Command) =>
      kit.run(command, async (session) => {
        const windowMs = (session.options.timeout ?? HOSTS_WINDOW_S) * 1000;
        const answers = await (await session.bus()).gather<Record<string, unknown>>('ping', {}, windowMs);
        const hosts = answers.filter((answer): answer is Record<string, unknown> => !(answer instanceof RemoteError));
        for (const refusal of answers.filter((answer) => answer instanceof RemoteError)) session.streams.err.write(`virt-dr: an agent refused ping: ${refusal.message}\n`);
        hosts.sort((a, b) => String(a.host).localeCompare(String(b.host)));
        session.printTable({ hosts }, hosts, hostColumns(session.wide));
        if (hosts.length > 0) return ExitCode.ok;
        session.streams.err.write(`virt-dr: no agent answered within ${windowMs / 1000} s\n`);
        return ExitCode.timeout;
      }),
    );
}
