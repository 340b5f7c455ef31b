/**
 * What a benchmark run produces. Every figure carries the baseline it is compared with,
 * measured in the same run on the same machine: shared machines make absolute times
 * noisy, but ratios measured side by side hold.
 */

/** Which direction is good for a figure: seconds and bytes want lower, MiB/s higher. */
export type Better = 'lower' | 'higher';

export interface Baseline {
  /** What was measured, e.g. "`cp --sparse=always`, then `sync -f`". */
  name: string;
  /** In the figure's unit. */
  value: number;
}

export interface Figure {
  /** The numbered section, e.g. "1. Freeze window". */
  section: string;
  /** e.g. "median over 20 backups". */
  name: string;
  value: number;
  /** e.g. "ms", "MiB/s", "MiB", "CPU s/GiB". */
  unit: string;
  baseline: Baseline;
  better: Better;
  /** One short line: what the figure covers, when that is not obvious. */
  note?: string;
}

/** One bar of the throughput plot. */
export interface ThroughputSample {
  /** e.g. "1 GiB disk, full". */
  workload: string;
  /** e.g. "virt-dr", "cp --sparse=always + sync". */
  tool: string;
  mibPerSecond: number;
}

/** One distribution of the freeze-window plot. */
export interface FreezeSamples {
  /** e.g. "virt-dr backup", "virsh snapshot-create-as --quiesce". */
  tool: string;
  ms: number[];
}

/** One line of the RPO plot: the RPO at each moment of a run. */
export interface RpoSeries {
  /** e.g. "virt-dr: newest point on the DR node". */
  label: string;
  /** Seconds into the run, and the RPO then in seconds. */
  points: { atS: number; rpoS: number }[];
}

/** What one suite hands back to the runner. */
export interface SuiteResult {
  figures: Figure[];
  throughput?: ThroughputSample[];
  freeze?: FreezeSamples[];
  rpo?: RpoSeries[];
}

export interface MachineFacts {
  date: string;
  cpu: string;
  cores: number;
  memoryGiB: number;
  /** The file system and device under the bench's images folder. */
  disk: string;
  kernel: string;
  versions: Record<string, string>;
}

export interface BenchReport {
  mode: 'full' | 'quick';
  /** How the run was made, e.g. "`npm run bench -- --only restore`". */
  command: string;
  machine: MachineFacts;
  /** Wall time of the whole run. */
  seconds: number;
  figures: Figure[];
  throughput: ThroughputSample[];
  freeze: FreezeSamples[];
  rpo: RpoSeries[];
  /** Sections the issue asks for that wait on a feature, with why. */
  pending: string[];
}

/** value ÷ baseline, so 1.00 means "as good as the baseline" only together with `better`. */
export function ratioOf(figure: Figure): number {
  return figure.value / figure.baseline.value;
}
