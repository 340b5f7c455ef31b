import { formatNumber } from './report/markdown.js';
import { HAND_MERGE } from './hand-merge.js';
import type { Figure, SuiteResult } from './model.js';
import type { PruneSample } from './prune-samples.js';
import { median, MiB } from './stats.js';

export const PRUNE_SECTION = '8. Pruning';

/** One prune the suite measured, with the baselines run for the same points. */
export interface PruneRun {
  sample: PruneSample;
  /** The hand-run merge of the same two points (bench/hand-merge.ts), run before the agent's. */
  handMergeS: number;
  /** `sha256sum` of the new point's disk files, run after the prune. */
  sha256sumS: number;
  /** `openssl dgst -sha256` of the same files: OpenSSL's SHA-256, which Node's hash uses too. */
  opensslS: number;
  /** The new point's disk files' bytes. */
  newPointBytes: number;
}

/** What the figures' names and notes say about the run. */
export interface PruneSetup {
  /** e.g. "2 GiB". */
  size: string;
  writePercent: number;
  maxCount: number;
}

/** The prune suite's figures and throughput bars from its runs. Pure. */
export function pruneReport(setup: PruneSetup, runs: readonly PruneRun[]): SuiteResult {
  if (runs.length === 0) throw new Error('the prune suite measured no prune');
  const pick = (f: (r: PruneRun) => number) => median(runs.map(f));
  const list = (f: (r: PruneRun) => number) => runs.map((r) => formatNumber(f(r))).join(', ');
  const of = runs.length > 1 ? `, median of ${runs.length}` : '';
  const label = `${setup.size} disk, the guest writing ${setup.writePercent} % before each incremental`;
  const mergedMiB = pick((r) => r.sample.mergedBytes) / MiB;
  const verifyNote = `the agent checks the new point's presence, size, sha256, qcow2 structure and the header naming its parent, and reads the policy, scans and plans; the new points held ${formatNumber(pick((r) => r.newPointBytes) / MiB)} MiB (median); coreutils' sha256sum has no SHA-NI code, OpenSSL's (and so Node's) does`;
  const figures: Figure[] = [
    {
      section: PRUNE_SECTION,
      name: `${label}: the prune job after a scheduled backup${of}`,
      value: pick((r) => r.sample.pruneS),
      unit: 's',
      baseline: { name: 'the backup job it followed', value: pick((r) => r.sample.backupS) },
      better: 'lower',
      note:
        `each prune verified the new point, then merged the oldest point into its child (retention max_count ${setup.maxCount}); both are the jobs' own durations, from leaving the queue to their end; ` +
        `prune ÷ backup per pair: ${list((r) => r.sample.pruneS / r.sample.backupS)} (median ${formatNumber(pick((r) => r.sample.pruneS / r.sample.backupS))}); ` +
        `prune seconds: ${list((r) => r.sample.pruneS)}; backup seconds: ${list((r) => r.sample.backupS)}; ` +
        `the prune left the queue a median of ${formatNumber(pick((r) => r.sample.waitS))} s after the backup's end`,
    },
    {
      section: PRUNE_SECTION,
      name: `${label}: merge of the oldest point into its child (the prune action's duration_ms)${of}`,
      value: pick((r) => r.sample.mergeS),
      unit: 's',
      baseline: { name: HAND_MERGE, value: pick((r) => r.handMergeS) },
      better: 'lower',
      note:
        "the agent's merge also reads the pruned point's disk against its sha256, hashes the child's copy as it copies, runs qemu-img compare of the old and the new chain, fsyncs and hashes the result, commits the manifest, renames, and removes the pruned point; " +
        `the pruned point was self-contained each time (the full, then each merged child), so the child was rebased onto nothing and written whole: ${formatNumber(mergedMiB)} MiB (median)`,
    },
    verifyFigure(label, of, pick((r) => r.sample.verifyS), "`sha256sum` of the new point's disk files", pick((r) => r.sha256sumS), verifyNote),
    verifyFigure(label, of, pick((r) => r.sample.verifyS), '`openssl dgst -sha256` of the same files', pick((r) => r.opensslS), verifyNote),
  ];
  const workload = `${setup.size} prune merge`;
  return {
    figures,
    throughput: [
      { workload, tool: 'virt-dr prune (merge step)', mibPerSecond: mergedMiB / pick((r) => r.sample.mergeS) },
      { workload, tool: 'cp + qemu-img rebase + sync', mibPerSecond: mergedMiB / pick((r) => r.handMergeS) },
    ],
  };
}

/** The prune's verification of the new point (its duration_ms less its action's) against one way to read it by hand. */
function verifyFigure(label: string, of: string, value: number, baseline: string, baselineValue: number, note: string): Figure {
  return {
    section: PRUNE_SECTION,
    name: `${label}: verifying the new point before anything goes (the prune's duration_ms less its action's)${of}`,
    value,
    unit: 's',
    baseline: { name: baseline, value: baselineValue },
    better: 'lower',
    note,
  };
}
