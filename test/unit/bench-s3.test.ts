import { describe, expect, it } from 'vitest';
import { DURABLE_CP } from '../../bench/copy-baselines.js';
import { curlPutArgv } from '../../bench/s3-baselines.js';
import { CURL_PUT, S3_SECTION, s3Report, type S3Run, type S3Setup } from '../../bench/s3-report.js';
import { PUBLISHED_MESSAGE, STORED_MESSAGE, uploadSpanOf } from '../../bench/s3-upload-log.js';
import { MiB } from '../../bench/stats.js';

const JOB = 'cda0dd1a-2d7d-4f5c-a7f8-6ad5d56053ba';
const POINT = '20261129T145903572Z-2f85fb';
const line = (time: string, msg: string, fields: Record<string, unknown>) => JSON.stringify({ level: 30, time, service: 'virt-dr-agent', ...fields, msg });
const engineLine = (time: string, msg: string, jobId = JOB) => line(time, msg, { job_id: jobId, action: 'backup' });
const targetLine = (time: string, msg: string, backupId = POINT, file?: string) => line(time, msg, { target: 'primary', backup_id: backupId, ...(file ? { file } : {}) });

describe("a backup's S3 upload, from the agent's log", () => {
  const log = [
    engineLine('2026-11-29T14:59:03.576Z', 'backup planned'),
    engineLine('2026-11-29T14:59:04.000Z', 'backup job finished; files relinked, flushed and verified', 'another-job'),
    engineLine('2026-11-29T14:59:04.113Z', 'backup job finished; files relinked, flushed and verified'),
    'a stack trace line that is not JSON',
    targetLine('2026-11-29T14:59:05.000Z', STORED_MESSAGE, '20261129T145800000Z-aaaaaa', 'vda.qcow2'),
    targetLine('2026-11-29T14:59:05.863Z', STORED_MESSAGE, POINT, 'vda.qcow2'),
    targetLine('2026-11-29T14:59:06.023Z', PUBLISHED_MESSAGE),
    '{"level":30,"time":"2026-11-29T14:59:0',
  ].join('\n');

  it("runs from the job's staged point to the disk object verified, and to the point published", () => {
    const span = uploadSpanOf(log, { jobId: JOB, backupId: POINT, file: 'vda.qcow2' });
    expect(span.uploadS).toBeCloseTo(1.75, 6);
    expect(span.publishS).toBeCloseTo(1.91, 6);
  });

  it("starts at the snapshot engine's last disk saved", () => {
    const snapshot = [
      engineLine('2026-11-29T14:59:01.000Z', 'disk saved and verified'),
      engineLine('2026-11-29T14:59:02.000Z', 'disk saved and verified'),
      targetLine('2026-11-29T14:59:04.500Z', STORED_MESSAGE, POINT, 'vda.qcow2'),
      targetLine('2026-11-29T14:59:05.000Z', PUBLISHED_MESSAGE),
    ].join('\n');
    expect(uploadSpanOf(snapshot, { jobId: JOB, backupId: POINT, file: 'vda.qcow2' })).toEqual({ uploadS: 2.5, publishS: 3 });
  });

  it('names each line it misses', () => {
    expect(() => uploadSpanOf(log, { jobId: 'j-other', backupId: POINT, file: 'vdb.qcow2' })).toThrow(
      `the agent's log lacks job j-other's "backup job finished; files relinked, flushed and verified" or "disk saved and verified", "${STORED_MESSAGE}" for vdb.qcow2 of backup ${POINT}`,
    );
    expect(() => uploadSpanOf(log.replace(PUBLISHED_MESSAGE, 'something else'), { jobId: JOB, backupId: POINT, file: 'vda.qcow2' })).toThrow(`lacks "${PUBLISHED_MESSAGE}"`);
  });
});

describe('the curl baseline', () => {
  it('PUTs the file in one stream, path-style, signed by curl, with the credentials in a config file', () => {
    const argv = curlPutArgv({ endpoint: 'http://127.0.0.1:7480', region: 'us-east-1', bucket: 'b', key: 'curl-baseline/vda.qcow2', file: '/w/vda.qcow2', credentials: '/w/curl.conf' });
    expect(argv).toEqual([
      'curl', '-fsS',
      '--config', '/w/curl.conf',
      '--aws-sigv4', 'aws:amz:us-east-1:s3',
      '-H', 'x-amz-content-sha256: UNSIGNED-PAYLOAD',
      '-T', '/w/vda.qcow2',
      'http://127.0.0.1:7480/b/curl-baseline/vda.qcow2',
    ]);
  });
});

describe("the S3 suite's figures", () => {
  const setup: S3Setup = { size: '2 GiB', engine: 'checkpoint', partSizeBytes: 16 * MiB, parallelParts: 4, startPeakRssKiB: 100 * 1024 };
  const run = (uploadS: number, cpS: number, curlS: number, peakRssMiB: number): S3Run => ({
    bytes: 1024 * MiB,
    span: { uploadS, publishS: uploadS + 0.25 },
    jobS: uploadS + 5,
    agentCpuS: uploadS / 2,
    peakRssKiB: peakRssMiB * 1024,
    cpS,
    curlS,
    curlCpuS: 1.5,
    curlPeakRssKiB: 11 * 1024,
  });
  const result = s3Report(setup, [run(16, 4, 8, 180), run(8, 2, 4, 196), run(10, 5, 10, 196)]);

  it("holds the upload's median rate against cp + sync and one curl PUT, and the peak RSS against the agent's after start-up", () => {
    expect(result.figures.map((f) => [f.section, f.value, f.baseline.value, f.unit, f.better])).toEqual([
      [S3_SECTION, 102.4, 256, 'MiB/s', 'higher'],
      [S3_SECTION, 102.4, 128, 'MiB/s', 'higher'],
      [S3_SECTION, 196, 100, 'MiB', 'lower'],
    ]);
    expect(result.figures[0]!.baseline.name).toBe(`${DURABLE_CP} of the same file`);
    expect(result.figures[1]!.baseline.name).toBe(CURL_PUT);
    expect(result.figures[0]!.name).toBe('2 GiB disk, half random, full backup to S3 on a single-node Ceph RGW (1,024 MiB stored, checkpoint engine): the upload, median of 3');
  });

  it('lists the seconds of each run and the time ratios', () => {
    const note = result.figures[0]!.note!;
    expect(note).toContain('upload 16, 8, 10, the whole publish with the manifest 16.3, 8.25, 10.3, the whole backup job 21, 13, 15');
    expect(note).toContain('cp + sync 4, 2, 5; curl 8, 4, 10');
    expect(note).toContain('time ratios upload ÷ curl 2, 2, 1, upload ÷ cp + sync 4, 4, 2');
    expect(note).toContain('CPU seconds of the agent over each backup request 8, 4, 5 (its engine also hashes the staged file once), of curl 1.5, 1.5, 1.5');
  });

  it("sets the agent's highest peak's growth against part_size_bytes × parallel_parts", () => {
    expect(result.figures[2]!.note).toContain('after each backup 180, 196, 196 MiB');
    expect(result.figures[2]!.note).toContain('the backups added 96 MiB (1.50 × part_size_bytes × parallel_parts = 64 MiB');
    expect(result.figures[2]!.note).toContain("curl's peak RSS for the same upload: 11 MiB");
  });

  it('draws the three rates as throughput bars', () => {
    expect(result.throughput).toEqual([
      { workload: '2 GiB full to S3', tool: 'virt-dr S3 upload (4 × 16 MiB parts)', mibPerSecond: 102.4 },
      { workload: '2 GiB full to S3', tool: 'curl, one PUT', mibPerSecond: 128 },
      { workload: '2 GiB full to S3', tool: 'cp + sync', mibPerSecond: 256 },
    ]);
  });

  it('refuses a run without a sample', () => {
    expect(() => s3Report(setup, [])).toThrow('measured no backup');
  });
});
