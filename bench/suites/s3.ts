import { readFile, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { RpcClient } from '../../src/bus/rpc-client.js';
import { AgentProcess } from '../../test/support/agent-process.js';
import { backupJob, type PointView } from '../../test/support/backup-api.js';
import { startCeph, type Ceph } from '../../test/support/ceph.js';
import { finishedJob } from '../../test/support/restore-api.js';
import { destroyTestGuest, waitForAgent } from '../../test/support/guest.js';
import { BENCH_DOMAIN_PREFIX, type BenchContext } from '../context.js';
import { durableCopy } from '../copy-baselines.js';
import { benchGuestDir, createHalfRandomGuest, sizeLabel } from '../half-random-guest.js';
import { jobSeconds, processUsage, type CommandCost } from '../measure.js';
import type { SuiteResult } from '../model.js';
import { curlPut, downloadObject, writeCurlCredentials, type CurlPut } from '../s3-baselines.js';
import { s3Report, type S3Run } from '../s3-report.js';
import { uploadSpanOf } from '../s3-upload-log.js';
import { MiB } from '../stats.js';

const BUCKET = 'virt-dr-bench';
const PREFIX = 'points';
const REGION = 'us-east-1';
/** repo.s3's defaults, said here since the peak RSS figure is read against their product. */
const PART_SIZE_BYTES = 16 * MiB;
const PARALLEL_PARTS = 4;

/**
 * Section 9, the S3 target: a single-node Ceph (test/support/ceph.ts) under the bench's
 * folder, and a second agent, its own name, topic and state, whose repository is
 * `s3://virt-dr-bench/points` on it. A guest whose data disk starts half random gets full
 * backups from that agent over the bus. After each, its vda.qcow2 is downloaded from the
 * bucket (the very bytes the agent stored, checked against the point's sha256; the agent's
 * staged copy is gone once it is published) and, from the page cache as the agent read its
 * staged copy, copied with cp + sync and PUT with one curl stream to the same bucket.
 */
export async function runS3Suite(ctx: BenchContext): Promise<SuiteResult> {
  const { plan } = ctx;
  const base = path.join(ctx.workDir, 's3');
  const name = `${BENCH_DOMAIN_PREFIX}s3`;
  const guestDir = benchGuestDir(ctx.workDir, name);
  const size = sizeLabel(plan.s3DiskMiB);
  let agent: AgentProcess | null = null;
  let client: RpcClient | null = null;
  ctx.progress(`s3: a single-node Ceph, and a guest with a ${size} data disk, half random`);
  // Ceph starts (about 17 s) while the guest boots; nothing is timed meanwhile.
  const cephStarting = startCeph(path.join(base, 'ceph'));
  cephStarting.catch(() => undefined);
  try {
    await createHalfRandomGuest(ctx, name, plan.s3DiskMiB);
    const ceph = await cephStarting;
    await ceph.createBucket(BUCKET);
    const s3 = ceph.client();
    agent = s3Agent(path.join(base, 'agent'), ceph);
    await agent.reset();
    await Promise.all([agent.start(), waitForAgent(name)]);
    client = await agent.client();
    const pid = agent.child!.pid!;
    const startPeakRssKiB = (await processUsage(pid)).peakRssKiB;

    const fileDir = path.join(base, 'baseline');
    await mkdir(fileDir, { recursive: true });
    const credentials = path.join(base, 'curl.conf');
    await writeCurlCredentials(credentials, ceph.accessKey, ceph.secretKey);
    const sampler: Sampler = { client, agent, pid, domain: name, s3, fileDir, curl: { endpoint: ceph.endpoint, region: REGION, bucket: BUCKET, credentials } };
    const runs: S3Run[] = [];
    let engine = '';
    for (let i = 1; i <= plan.s3Samples; i++) {
      ctx.progress(`s3: full backup ${i}/${plan.s3Samples} of ${size} to S3, then cp + sync and one curl PUT of its file`);
      const sample = await measureSample(sampler);
      runs.push(sample.run);
      engine = sample.engine;
    }
    return s3Report({ size, engine, partSizeBytes: PART_SIZE_BYTES, parallelParts: PARALLEL_PARTS, startPeakRssKiB }, runs);
  } finally {
    // Every step runs, whatever an earlier one met; a failure is told, not thrown over the suite's own.
    const tidy = async (what: string, step: () => Promise<unknown>) => {
      await step().catch((err: unknown) => ctx.progress(`s3: cleaning up ${what} failed: ${err instanceof Error ? err.message : String(err)}`));
    };
    await tidy('the client', async () => client?.close());
    await tidy('the agent', async () => {
      await agent?.stop();
      await agent?.discard();
    });
    await tidy('the guest', () => destroyTestGuest(name, { workDir: guestDir }));
    await tidy('Ceph', async () => (await cephStarting.catch(() => null))?.stop());
    if (process.env.VDR_BENCH_KEEP) ctx.progress(`s3: kept ${base} (VDR_BENCH_KEEP)`);
    else await rm(base, { recursive: true, force: true });
  }
}

/** The second agent: production's log level, the S3 repository, repo.s3 spelled out. */
function s3Agent(workDir: string, ceph: Ceph): AgentProcess {
  return new AgentProcess('bench-s3', workDir, {
    VIRT_DR_LOG_LEVEL: 'info',
    VIRT_DR_REPO_URL: `s3://${BUCKET}/${PREFIX}`,
    VIRT_DR_REPO_S3_ENDPOINT: ceph.endpoint,
    VIRT_DR_REPO_S3_REGION: REGION,
    VIRT_DR_REPO_S3_ACCESS_KEY: ceph.accessKey,
    VIRT_DR_REPO_S3_SECRET_KEY: ceph.secretKey,
    VIRT_DR_REPO_S3_PART_SIZE: String(PART_SIZE_BYTES),
    VIRT_DR_REPO_S3_PARALLEL_PARTS: String(PARALLEL_PARTS),
  });
}

/** What one sample needs: the S3 agent and its client, the bucket's client, where the baselines work. */
interface Sampler {
  client: RpcClient;
  agent: AgentProcess;
  pid: number;
  domain: string;
  s3: S3Client;
  fileDir: string;
  curl: Omit<CurlPut, 'key' | 'file'>;
}

/**
 * One full backup by the S3 agent (its upload timed from its log, its CPU and VmHWM from
 * /proc), then the baselines on the point's file; the point is deleted last over the bus,
 * since the next full needs no parent and the OSD's space is the next sample's.
 */
async function measureSample(sampler: Sampler): Promise<{ run: S3Run; engine: string }> {
  const { client, agent, pid, domain } = sampler;
  const before = await processUsage(pid);
  const job = await backupJob(client, domain, { mode: 'full' });
  const after = await processUsage(pid);
  if (job.state !== 'succeeded' || !job.result) throw new Error(`the full backup of ${domain} to S3 ended ${job.state}: ${job.error?.class}: ${job.error?.message}`);
  const point = job.result;
  const disk = point.disks[0]!;
  const span = uploadSpanOf(await readFile(agent.logPath, 'utf8'), { jobId: job.job_id, backupId: point.backup_id, file: disk.file });
  const { cp, curl } = await baselinesOn(sampler, point);
  const deleted = await finishedJob(client, 'delete_backup', { domain, backup_id: point.backup_id });
  if (deleted.state !== 'succeeded') throw new Error(`delete_backup of ${point.backup_id} on S3 ended ${deleted.state}: ${deleted.error?.class}: ${deleted.error?.message}`);
  const run: S3Run = {
    bytes: disk.size,
    span,
    jobS: jobSeconds(job),
    agentCpuS: after.cpuSeconds - before.cpuSeconds,
    peakRssKiB: after.peakRssKiB,
    cpS: cp.seconds,
    curlS: curl.seconds,
    curlCpuS: curl.cpuSeconds,
    curlPeakRssKiB: curl.peakRssKiB,
  };
  return { run, engine: point.engine };
}

/** cp + sync and one curl PUT of the point's first disk, downloaded from the bucket into the page cache. */
async function baselinesOn(sampler: Sampler, point: PointView): Promise<{ cp: CommandCost; curl: CommandCost }> {
  const disk = point.disks[0]!;
  const file = path.join(sampler.fileDir, disk.file);
  try {
    await fetchPointFile(sampler.s3, point, file);
    const cp = await durableCopy(file, path.join(sampler.fileDir, `cp-${disk.file}`));
    const curl = await curlOnce(sampler.s3, { ...sampler.curl, key: `curl-baseline/${disk.file}`, file });
    return { cp, curl };
  } finally {
    await rm(file, { force: true });
  }
}

/** The point's first disk from the bucket, by the layout's key, checked against the point's sha256. */
async function fetchPointFile(s3: S3Client, point: PointView, file: string): Promise<void> {
  const disk = point.disks[0]!;
  const key = `${PREFIX}/${point.domain_uuid}/${point.backup_id}/${disk.file}`;
  const got = await downloadObject(s3, BUCKET, key, file);
  if (got.bytes !== disk.size || got.sha256 !== disk.sha256) {
    throw new Error(`s3://${BUCKET}/${key} came back as ${got.bytes} bytes with sha256 ${got.sha256}; the point says ${disk.size} bytes, ${disk.sha256}`);
  }
}

/** One curl PUT beside the points (outside the agent's prefix); its object goes afterwards. */
async function curlOnce(s3: S3Client, put: CurlPut): Promise<CommandCost> {
  try {
    return await curlPut(put);
  } finally {
    await s3.send(new DeleteObjectCommand({ Bucket: put.bucket, Key: put.key }));
  }
}
