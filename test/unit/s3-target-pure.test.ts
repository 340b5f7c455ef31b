import { createHash, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { InvalidArgument, JobCancelled, TargetOperationFailed, TargetRefused, TargetUnreachable } from '../../src/errors.js';
import { createRootLogger } from '../../src/log.js';
import { s3Failure } from '../../src/repo/s3/s3-errors.js';
import { UploadHashes } from '../../src/repo/s3/s3-upload.js';
import { parseS3Url, s3Location } from '../../src/repo/s3/s3-url.js';
import { targetLocation, targetSpecs } from '../../src/repo/target-config.js';

const MIB = 1024 * 1024;

describe('s3:// target URLs', () => {
  it('reads the bucket and the prefix, without slashes at either end', () => {
    expect(parseS3Url('s3://virt-dr-backups/region-1/host-7/')).toEqual({ bucket: 'virt-dr-backups', prefix: 'region-1/host-7' });
    expect(parseS3Url('s3://virt-dr')).toEqual({ bucket: 'virt-dr', prefix: '' });
    expect(s3Location({ bucket: 'virt-dr', prefix: '' })).toBe('s3://virt-dr');
    expect(s3Location({ bucket: 'b-1', prefix: 'a/b' })).toBe('s3://b-1/a/b');
  });

  it.each([
    ['s3://ab/x', 'bucket name'],
    ['s3://Upper/x', 'bucket name'],
    ['s3://a..b/x', 'bucket name'],
    ['s3://192.168.1.1/x', 'bucket name'],
    ['s3://bucket/../etc', 'prefix'],
    ['s3://bucket/a//b', 'prefix'],
    ['s3://bucket/.hidden', 'prefix'],
    ['s3://bucket/a b', 'prefix'],
    ['s3://key:secret@bucket/x', 'credentials'],
    ['s3://bucket/x?versionId=1', 'query'],
    ['ssh://bucket/x', 'not an s3:// URL'],
  ])('refuses %s', (url, why) => {
    expect(() => parseS3Url(url)).toThrow(InvalidArgument);
    expect(() => parseS3Url(url)).toThrow(why);
  });
});

describe('s3 targets from the configuration', () => {
  const keys = { VIRT_DR_REPO_S3_ACCESS_KEY: 'AKIDEXAMPLE', VIRT_DR_REPO_S3_SECRET_KEY: 'wJalrXUtnFEMI' };

  it('reads repo.s3 from the environment for an s3:// repo.url, path-style on its endpoint', () => {
    const config = loadConfig({ env: { VIRT_DR_REPO_URL: 's3://backups/host-1', VIRT_DR_REPO_S3_ENDPOINT: 'http://127.0.0.1:7480', ...keys } });
    const [spec] = targetSpecs(config.repo);
    expect(spec).toMatchObject({
      kind: 's3',
      name: 'primary',
      address: { bucket: 'backups', prefix: 'host-1' },
      settings: { endpoint: 'http://127.0.0.1:7480', region: 'us-east-1', accessKey: 'AKIDEXAMPLE', partSizeBytes: 16 * MIB, parallelParts: 4 },
      bandwidthBytesPerS: 0,
      delayS: 0,
      ownerAgent: null,
    });
    expect(spec?.kind === 's3' && spec.settings.secretKey.reveal()).toBe('wJalrXUtnFEMI');
    expect(targetLocation(spec!)).toBe('s3://backups/host-1');
  });

  it('names every problem of repo.s3 when an s3 target needs it', () => {
    const config = loadConfig({ env: { VIRT_DR_REPO_URL: 's3://backups', VIRT_DR_REPO_S3_ENDPOINT: 'http://user:pw@gw/path', VIRT_DR_REPO_S3_PART_SIZE: '1024' } });
    expect(() => targetSpecs(config.repo)).toThrow(ConfigError);
    try {
      targetSpecs(config.repo);
    } catch (err) {
      const message = (err as Error).message;
      expect(message).toContain('repo.s3.access_key and repo.s3.secret_key');
      expect(message).toContain('repo.s3.endpoint must be http(s)://host[:port]');
      expect(message).toContain('part_size_bytes must be 5 MiB to 5 GiB');
      expect(message).not.toContain('pw');
    }
  });

  it('needs no keys while no target is on S3', () => {
    expect(targetSpecs(loadConfig({ env: { VIRT_DR_REPO_URL: 'file:///srv/repo' } }).repo)[0]!.kind).toBe('file');
  });

  it('never logs the secret key, wherever a settings object carries it', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _e, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const log = createRootLogger('info', sink as never);
    const settings = targetSpecs(loadConfig({ env: { VIRT_DR_REPO_URL: 's3://backups', ...keys } }).repo)[0]!;
    log.info({ spec: settings }, 'target');
    log.info(`as text: ${String((settings as { settings: { secretKey: unknown } }).settings.secretKey)} ${inspect(settings)}`);
    log.info({ repo: { s3: { secret_key: 'wJalrXUtnFEMI' } } }, 'config');
    expect(lines.join('')).not.toContain('wJalrXUtnFEMI');
    expect(lines.join('')).toContain('AKIDEXAMPLE');
  });
});

describe('the ETag S3 gives a multipart upload', () => {
  /** S3's rule, computed from the parts directly. */
  const reference = (data: Buffer, partSize: number) => {
    const parts: Buffer[] = [];
    for (let o = 0; o < data.length || parts.length === 0; o += partSize) parts.push(createHash('md5').update(data.subarray(o, o + partSize)).digest());
    if (parts.length === 1) return parts[0]!.toString('hex');
    return `${createHash('md5').update(Buffer.concat(parts)).digest('hex')}-${parts.length}`;
  };

  it.each([
    ['empty', 0],
    ['under one part', 3 * MIB + 17],
    ['exactly one part', 5 * MIB],
    ['exactly two parts', 10 * MIB],
    ['two parts and a tail', 10 * MIB + 1],
  ])('%s, fed in chunks that do not line up with the parts', (_name, size) => {
    const data = randomBytes(size);
    const hashes = new UploadHashes(5 * MIB);
    for (let o = 0; o < data.length; o += 777_777) hashes.update(data.subarray(o, o + 777_777));
    expect(hashes.etag()).toBe(reference(data, 5 * MIB));
    expect(hashes.sha256()).toBe(createHash('sha256').update(data).digest('hex'));
  });
});

describe('what an S3 failure means', () => {
  const where = { location: 's3://backups/h1', bucket: 'backups', endpoint: 'http://127.0.0.1:7480' };
  const answered = (name: string, status: number) => Object.assign(new Error(`${name} happened`), { name, $metadata: { httpStatusCode: status } });

  it('refused keys and access are TargetRefused, naming the settings to check', () => {
    for (const name of ['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied']) {
      const err = s3Failure(answered(name, 403), 'writing x', where);
      expect(err).toBeInstanceOf(TargetRefused);
      expect(err.message).toContain('repo.s3.access_key');
    }
  });

  it('a missing bucket is TargetRefused: the agent never creates one', () => {
    const err = s3Failure(answered('NoSuchBucket', 404), 'writing x', where);
    expect(err).toBeInstanceOf(TargetRefused);
    expect(err.message).toContain('bucket backups does not exist');
  });

  it('no answer is TargetUnreachable; any other answer TargetOperationFailed', () => {
    expect(s3Failure(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'listing', where)).toBeInstanceOf(TargetUnreachable);
    expect(s3Failure(Object.assign(new Error('timed out'), { name: 'TimeoutError' }), 'listing', where)).toBeInstanceOf(TargetUnreachable);
    expect(s3Failure(answered('InternalError', 500), 'listing', where)).toBeInstanceOf(TargetOperationFailed);
  });

  it("a cancelled call is its signal's reason", () => {
    const controller = new AbortController();
    controller.abort(new JobCancelled('request'));
    expect(s3Failure(new Error('aborted'), 'uploading', where, controller.signal)).toBeInstanceOf(JobCancelled);
  });
});
