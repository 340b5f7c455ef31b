import { FULL_PLAN, QUICK_PLAN, type BenchPlan } from './plan.js';

/** The suites, in the order the runner runs them. */
export const SUITE_NAMES = ['freeze-window', 'incremental', 'bus-cost', 'restore', 'dr', 'prune', 's3', 'full-backup'] as const;
export type SuiteName = (typeof SUITE_NAMES)[number];

/** What the command line asks for. */
export interface BenchArgs {
  plan: BenchPlan;
  /** The suites to run, in the runner's order: all unless `--only` named some. */
  suites: SuiteName[];
  /**
   * The report's file name without extension: `latest` (a whole full run), `quick`, or
   * the chosen suites' names (`restore`, `quick-restore`), so a partial run never
   * replaces the last whole one.
   */
  stem: string;
  /** The command as the report quotes it. */
  command: string;
}

export const USAGE = `usage: npm run bench [-- [--quick] [--only SUITE[,SUITE...]]]; suites: ${SUITE_NAMES.join(', ')}`;

/** Parses `--quick` and `--only a,b` (or `--only=a,b`). Pure; throws with the usage on bad input. */
export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  let quick = false;
  let only: string[] | null = null;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--quick') quick = true;
    else if (arg === '--only' || arg.startsWith('--only=')) {
      const value = arg === '--only' ? argv[++i] : arg.slice('--only='.length);
      if (!value) throw new Error(`--only needs a suite name; ${USAGE}`);
      only = [...(only ?? []), ...value.split(',').filter(Boolean)];
    } else throw new Error(`unknown argument ${arg}; ${USAGE}`);
  }
  const suites = only ? chosenSuites(only) : [...SUITE_NAMES];
  const partial = suites.length < SUITE_NAMES.length;
  const stem = partial ? [...(quick ? ['quick'] : []), suites.join('+')].join('-') : quick ? 'quick' : 'latest';
  const flags = [...(quick ? ['--quick'] : []), ...(partial ? ['--only', suites.join(',')] : [])];
  return {
    plan: quick ? QUICK_PLAN : FULL_PLAN,
    suites,
    stem,
    command: `\`npm run bench${flags.length ? ` -- ${flags.join(' ')}` : ''}\``,
  };
}

function chosenSuites(names: readonly string[]): SuiteName[] {
  const unknown = names.filter((n) => !(SUITE_NAMES as readonly string[]).includes(n));
  if (unknown.length) throw new Error(`unknown suite ${unknown.join(', ')}; ${USAGE}`);
  const suites = SUITE_NAMES.filter((s) => names.includes(s));
  // The incremental suite continues the chain the freeze-window suite's backups start.
  if (suites.includes('incremental') && !suites.includes('freeze-window')) {
    throw new Error(`the incremental suite continues the freeze-window suite's chain: add freeze-window; ${USAGE}`);
  }
  return suites;
}
