import type { Command } from 'commander';
import { bashCompletion } from '../completion.js';
import { UsageError } from '../exit-codes.js';
import { examples, type CommandKit } from '../program.js';

/** `completion bash`: the script deploy/install.sh installs for bash-completion. */
export function registerCompletionCommand(program: Command, kit: CommandKit): void {
  program
    .command('completion')
    .description('print the bash completion script (deploy/install.sh installs it)')
    .argument('<shell>', 'bash')
    .addHelpText('after', examples('source <(virt-dr completion bash)', 'virt-dr completion bash > /usr/share/bash-completion/completions/virt-dr'))
    .action((shell: string, _options, command: Command) =>
      kit.run(command, async (session) => {
        if (shell !== 'bash') throw new UsageError(`completion: only bash is supported, not ${shell}`);
        session.write([bashCompletion(program).trimEnd()]);
      }),
    );
}
