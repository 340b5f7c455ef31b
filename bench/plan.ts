/**
 * How much each suite does. The full plan is what the issue asks for; the quick plan runs
 * every code path of the harness at toy sizes (CI's smoke test, a few minutes).
 */
export interface BenchPlan {
  mode: 'full' | 'quick';
  /** Backups (and hand-timed virsh cycles) whose freeze windows are sampled. */
  freezeSamples: number;
  /** Data disk sizes of the full-backup suite; each starts 50 % random. */
  fullDiskMiB: number[];
  /** Data disk of the incremental suite (an empty ext4 the guest then writes to). */
  incrementalDiskMiB: number;
  /** How much of that disk the guest writes between two backups, in percent. */
  incrementalPercents: number[];
  pingCalls: number;
  casts: number;
  castDomains: number;
  /** Data disk of the restore suite; it starts 50 % random. */
  restoreDiskMiB: number;
  /** Incrementals on the full before the deep point the restore suite also restores. */
  restoreChainDepth: number;
  /** How much of the disk the guest writes before each of those incrementals, in percent. */
  restoreWritePercent: number;
  /** Restores (and hand-run baselines) per figure; the figures are medians. */
  restoreSamples: number;
  /** The file of random data published to the SSH target, and copied with scp. */
  drFileMiB: number;
  /** Uploads by each tool; the throughput figures are medians. */
  drTransferSamples: number;
  /** Data disk of the DR suite's guest (an empty ext4 it writes to). */
  drDiskMiB: number;
  /** A backup every this many seconds... */
  drBackupIntervalS: number;
  /** ...over this long, while the RPO is sampled once a second. */
  drRpoWindowS: number;
  /** How much of its disk the guest writes before each of those backups, in percent. */
  drWritePercent: number;
  /** Failovers (and hand-run define + start baselines); the figure is a median. */
  drFailoverSamples: number;
  /** Data disk of the prune suite; it starts 50 % random. */
  pruneDiskMiB: number;
  /** Incrementals after the full; each from the second on is followed by a prune that merges a point (the samples). */
  pruneIncrementals: number;
  /** How much of the disk the guest writes before each of those incrementals, in percent. */
  pruneWritePercent: number;
  /** Data disk of the S3 suite; it starts 50 % random. */
  s3DiskMiB: number;
  /** Full backups to S3 (each followed by the cp and curl baselines on its file); the figures are medians. */
  s3Samples: number;
}

export const FULL_PLAN: BenchPlan = {
  mode: 'full',
  freezeSamples: 20,
  fullDiskMiB: [1024, 4096],
  incrementalDiskMiB: 1024,
  incrementalPercents: [1, 10, 50],
  pingCalls: 1000,
  casts: 100,
  castDomains: 20,
  restoreDiskMiB: 2048,
  restoreChainDepth: 10,
  restoreWritePercent: 1,
  restoreSamples: 3,
  drFileMiB: 2048,
  drTransferSamples: 3,
  drDiskMiB: 1024,
  drBackupIntervalS: 60,
  drRpoWindowS: 600,
  drWritePercent: 1,
  drFailoverSamples: 3,
  pruneDiskMiB: 2048,
  pruneIncrementals: 5,
  pruneWritePercent: 1,
  s3DiskMiB: 2048,
  s3Samples: 3,
};

export const QUICK_PLAN: BenchPlan = {
  mode: 'quick',
  freezeSamples: 3,
  fullDiskMiB: [64],
  incrementalDiskMiB: 64,
  incrementalPercents: [1, 10, 50],
  pingCalls: 50,
  casts: 10,
  castDomains: 2,
  restoreDiskMiB: 64,
  restoreChainDepth: 3,
  restoreWritePercent: 1,
  restoreSamples: 1,
  drFileMiB: 128,
  drTransferSamples: 2,
  drDiskMiB: 64,
  drBackupIntervalS: 10,
  drRpoWindowS: 60,
  drWritePercent: 1,
  drFailoverSamples: 1,
  pruneDiskMiB: 64,
  pruneIncrementals: 3,
  pruneWritePercent: 1,  s3DiskMiB: 64,
  s3Samples: 1,
};
