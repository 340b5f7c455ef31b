import { DURABLE_CP } from './copy-baselines.js';
import type { Figure, SuiteResult } from './model.js';
import { formatNumber, formatRatio } from './report/markdown.js';
import type { UploadSpan } from './s3-upload-log.js';
import { median, MiB } from './stats.js';

export const S3_SECTION = '9. S3 target';
export const CURL_PUT = 'one `curl -T` PUT of the same file to the same bucket (a single stream, SigV4, unsigned payload)';

/** One full backup to S3, with the baselines run on its disk file. */
export interface S3Run {
  /** The point's vda.qcow2, the file every tool moved. */
  bytes: number;
  /** From the agent's log (bench/s3-upload-log.ts). */
  span: UploadSpan;
  /** The backup job's own duration, from leaving the queue to its end. */
  jobS: number;
  /** The agent's CPU seconds (user + system) over the backup request. */
  agentCpuS: number;
  /** The agent's VmHWM after this backup. */
  peakRssKiB: number;
  /** `cp --sparse=always` + `sync -f` of the file. */
  cpS: number;
  /** One curl PUT of the file: its wall and CPU seconds. */
  curlS: number;
  curlCpuS: number;
  curlPeakRssKiB: number;
}

/** What the figures' names and notes say about the run. */
export interface S3Setup {
  /** e.g. "2 GiB". */
  size: string;
  engine: string;
  partSizeBytes: number;
  parallelParts: number;
  /** The S3 agent's VmHWM after start-up, before its first backup. */
  startPeakRssKiB: number;
}

/** The S3 suite's figures and throughput bars from its runs. Pure. */
export function s3Report(setup: S3Setup, runs: readonly S3Run[]): SuiteResult {
  if (runs.length === 0) throw new Error('the S3 suite measured no backup');
  const rate = (seconds: (r: S3Run) => number) => median(runs.map((r) => r.bytes / MiB / seconds(r)));
  const list = (f: (r: S3Run) => number) => runs.map((r) => formatNumber(f(r))).join(', ');
  const of = runs.length > 1 ? `, median of ${runs.length}` : '';
  const mib = median(runs.map((r) => r.bytes)) / MiB;
  const parts = `${formatNumber(setup.partSizeBytes / MiB)} MiB parts, ${setup.parallelParts} at once`;
  const uploadRate = rate((r) => r.span.uploadS);
  const label = `${setup.size} disk, half random, full backup to S3 on a single-node Ceph RGW (${formatNumber(mib)} MiB stored, ${setup.engine} engine)`;
  const note =
    `the agent's upload is from the engine's "point staged" log line to S3Target's "disk file stored and verified on the target": a multipart upload (${parts}, Content-MD5 on each, the sha256 computed while reading) and a HEAD checking size and ETag, after the listing and HEADs that find no earlier copy; ` +
    `seconds per backup: upload ${list((r) => r.span.uploadS)}, the whole publish with the manifest ${list((r) => r.span.publishS)}, the whole backup job ${list((r) => r.jobS)}; ` +
    `cp + sync ${list((r) => r.cpS)}; curl ${list((r) => r.curlS)}; ` +
    `time ratios upload ÷ curl ${list((r) => r.span.uploadS / r.curlS)}, upload ÷ cp + sync ${list((r) => r.span.uploadS / r.cpS)}; ` +
    `CPU seconds of the agent over each backup request ${list((r) => r.agentCpuS)} (its engine also hashes the staged file once), of curl ${list((r) => r.curlCpuS)}; ` +
    `the baselines read the file downloaded from the bucket (so the bytes the agent stored), from the page cache as the agent read its staged copy`;
  const upload = (baseline: string, value: number): Figure => ({
    section: S3_SECTION,
    name: `${label}: the upload${of}`,
    value: uploadRate,
    unit: 'MiB/s',
    baseline: { name: baseline, value },
    better: 'higher',
    note,
  });
  const peakRssKiB = Math.max(...runs.map((r) => r.peakRssKiB));
  const growthMiB = (peakRssKiB - setup.startPeakRssKiB) / 1024;
  const bufferMiB = (setup.partSizeBytes * setup.parallelParts) / MiB;
  const figures: Figure[] = [
    upload(`${DURABLE_CP} of the same file`, rate((r) => r.cpS)),
    upload(CURL_PUT, rate((r) => r.curlS)),
    {
      section: S3_SECTION,
      name: `peak RSS of the S3 agent over its ${runs.length} backup${runs.length > 1 ? 's' : ''} of ${setup.size}`,
      value: peakRssKiB / 1024,
      unit: 'MiB',
      baseline: { name: 'its peak RSS after start-up, before the first backup', value: setup.startPeakRssKiB / 1024 },
      better: 'lower',
      note:
        `VmHWM from /proc, after each backup ${list((r) => r.peakRssKiB / 1024)} MiB; the backups added ${formatNumber(growthMiB)} MiB (${formatRatio(growthMiB / bufferMiB)} × part_size_bytes × parallel_parts = ${formatNumber(bufferMiB)} MiB, what an upload keeps in flight); ` +
        `curl's peak RSS for the same upload: ${formatNumber(Math.max(...runs.map((r) => r.curlPeakRssKiB)) / 1024)} MiB`,
    },
  ];
  const workload = `${setup.size} full to S3`;
  return {
    figures,
    throughput: [
      { workload, tool: `virt-dr S3 upload (${setup.parallelParts} × ${formatNumber(setup.partSizeBytes / MiB)} MiB parts)`, mibPerSecond: uploadRate },
      { workload, tool: 'curl, one PUT', mibPerSecond: rate((r) => r.curlS) },
      { workload, tool: 'cp + sync', mibPerSecond: rate((r) => r.cpS) },
    ],
  };
}
