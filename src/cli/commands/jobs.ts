import { Option, type Command } from 'commander';
import { JOB_STATES } from '../../jobs/job.js';
import { examples, type CommandKit } from '../program.js';
import { jobColumns } from '../views.js';

type Job = Record<string, unknown>;

/** The agent's jobs: `jobs`, `job`, `cancel`. */
export function registerJobCommands(program: Command, kit: CommandKit): void {
  program
    .command('jobs')
    .description("the jobs an agent keeps, oldest first: action, domain, state, progress, age and error")
    .addOption(new Option('--state <state>', 'only jobs in this state').choices(JOB_STATES))
    .addHelpText('after', examples('virt-dr jobs', 'virt-dr --host compute-07 jobs --state running', 'virt-dr jobs -o wide'))
    .action((options: { state?: string }, command: Command) =>
      kit.run(command, async (session) => {
        const answer = await session.call<{ jobs: Job[] }>('list_jobs', { state: options.state ?? null });
        session.printTable(answer, answer.jobs, jobColumns(Date.now(), session.wide));
      }),
    );

  program
    .command('job')
    .description('one job: its state, progress, result or error')
    .argument('<job-id>', 'the job (virt-dr jobs shows them)')
    .addHelpText('after', examples('virt-dr job 6f1c2d3e-…', 'virt-dr job 6f1c2d3e-… --json'))
    .action((jobId: string, _options, command: Command) =>
      kit.run(command, async (session) => session.printRecord(await session.call<Job>('get_job', { job_id: jobId }))),
    );

  program
    .command('cancel')
    .description('cancel a queued or running job; it stops at its next safe step and cleans up')
    .argument('<job-id>', 'the job to cancel')
    .addHelpText('after', examples('virt-dr cancel 6f1c2d3e-…'))
    .action((jobId: string, _options, command: Command) =>
      kit.run(command, async (session) => session.printRecord(await session.call<Job>('cancel_job', { job_id: jobId }))),
    );
}
