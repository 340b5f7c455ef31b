import { isAbsolute } from 'node:path';
import { ConfigError, type AgentConfig } from '../config.js';
import { InvalidArgument } from '../errors.js';
import { parseSshUrl, sshLocation } from './ssh/ssh-url.js';
import { parseS3Url, s3Location, type S3Address } from './s3/s3-url.js';
import { isHostName } from '../util/ids.js';
import { Secret } from '../util/secret.js';

/**
 * The repository targets the configuration names, parsed once into types: where each is,
 * how to reach it, and its rate limit. The first is the primary.
 *
 *   repo.targets  a list of {name, url, ssh_key, known_hosts, bandwidth_bytes_per_s, delay_s, agent}
 *   repo.url      one target, named "primary" (VIRT_DR_REPO_URL and its companions)
 *   repo.path     neither set: file://<repo.path>, named "local", as before targets existed
 *   repo.s3       the endpoint and keys every s3:// target uses
 */
export type TargetSpec = FileTargetSpec | SshTargetSpec | S3TargetSpec;

interface CommonSpec {
  name: string;
  bandwidthBytesPerS: number;
  /** A secondary gets a new point this long after the primary has it. */
  delayS: number;
  /**
   * The host name of the agent that owns the repository (a DR node's): a delete there
   * that must merge a point into its children is that agent's to do, where qemu-img runs
   * next to the files. Null: this agent does it itself (a file target).
   */
  ownerAgent: string | null;
}

export interface FileTargetSpec extends CommonSpec {
  kind: 'file';
  path: string;
}

export interface SshTargetSpec extends CommonSpec {
  kind: 'ssh';
  address: SshAddress;
  /** Path of the private key file; the key itself is read when connecting, never logged. */
  sshKey: string;
  knownHosts: string;
}

export interface S3TargetSpec extends CommonSpec {
  kind: 's3';
  address: S3Address;
  settings: S3Settings;
}

/** repo.s3, checked: how the agent reaches and signs for its S3 service. */
export interface S3Settings {
  /** `http(s)://host[:port]`, addressed path-style; null for AWS S3 itself. */
  endpoint: string | null;
  region: string;
  accessKey: string;
  /** Never logged, at any depth (util/secret.ts). */
  secretKey: Secret;
  partSizeBytes: number;
  parallelParts: number;
}

export interface SshAddress {
  user: string;
  /** A name or an address; an IPv6 address without its brackets. */
  host: string;
  port: number;
  /** The repository root on the server, absolute. */
  path: string;
}

export type TargetUrl = { kind: 'file'; path: string } | ({ kind: 'ssh' } & SshAddress) | ({ kind: 's3' } & S3Address);

/** The URL's parts, or why it cannot name a target. Passwords in URLs are refused: keys only. */
export function parseTargetUrl(url: string): TargetUrl {
  if (url.startsWith('s3://')) {
    try {
      return { kind: 's3', ...parseS3Url(url) };
    } catch (err) {
      if (err instanceof InvalidArgument) throw new ConfigError(err.message);
      throw err;
    }
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`${JSON.stringify(url)} is not a URL: use file:///path, ssh://user@host:port/path or s3://bucket/prefix`);
  }
  // The parser resolves `..` in file URLs silently; a target path must say what it means.
  if (/\/\.\.?(\/|$)/.test(url.replace(/[?#].*$/, ''))) throw new ConfigError(`target URL path may not contain '.' or '..' steps`);
  if (parsed.search || parsed.hash) throw new ConfigError(`target URL ${parsed.protocol}//${parsed.host}... may not have a query or a fragment`);
  const path = repositoryPath(parsed);
  if (parsed.protocol === 'file:') {
    if (parsed.host !== '' && parsed.host !== 'localhost') throw new ConfigError(`file URL names host ${parsed.host}: a file target is a local path, mounted or not`);
    return { kind: 'file', path };
  }
  if (parsed.protocol === 'ssh:') {
    try {
      return { kind: 'ssh', ...parseSshUrl(url) };
    } catch (err) {
      if (err instanceof InvalidArgument) throw new ConfigError(err.message);
      throw err;
    }
  }
  throw new ConfigError(`target URL scheme ${parsed.protocol} is not supported: use file://, ssh:// or s3://`);
}

/** The URL of a target with nothing secret in it (SSH keys are files; S3 keys are in repo.s3). */
export function targetLocation(spec: TargetSpec): string {
  if (spec.kind === 'file') return `file://${spec.path}`;
  return spec.kind === 'ssh' ? sshLocation(spec.address) : s3Location(spec.address);
}

/** Every target, the primary first; a ConfigError names each problem found. */
export function targetSpecs(repo: AgentConfig['repo']): TargetSpec[] {
  if (repo.targets.length > 0 && repo.url !== '') {
    throw new ConfigError('set repo.url (one target) or repo.targets (several), not both');
  }
  if (repo.targets.length === 0) {
    if (repo.url === '') return [{ kind: 'file', name: 'local', path: repo.path, bandwidthBytesPerS: 0, delayS: 0, ownerAgent: null }];
    return [
      specOf(
        { name: 'primary', url: repo.url, ssh_key: repo.ssh_key, known_hosts: repo.known_hosts, bandwidth_bytes_per_s: repo.bandwidth_bytes_per_s },
        'repo.url',
        repo.s3,
      ),
    ];
  }
  const problems: string[] = [];
  const specs: TargetSpec[] = [];
  repo.targets.forEach((entry, index) => {
    try {
      specs.push(specOf(entry, `repo.targets[${index}]`, repo.s3));
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(err.message);
    }
  });
  const names = specs.map((s) => s.name);
  for (const name of new Set(names.filter((n, i) => names.indexOf(n) !== i))) problems.push(`target name ${name} is used twice`);
  if (problems.length > 0) throw new ConfigError(problems.join('; '));
  return specs;
}

const TARGET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const ENTRY_KEYS = new Set(['name', 'url', 'ssh_key', 'known_hosts', 'bandwidth_bytes_per_s', 'delay_s', 'agent']);

function specOf(entry: unknown, where: string, s3: AgentConfig['repo']['s3']): TargetSpec {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new ConfigError(`${where} must be an object`);
  const fields = entry as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((k) => !ENTRY_KEYS.has(k));
  if (unknown.length > 0) throw new ConfigError(`${where} has unknown key(s) ${unknown.join(', ')}`);
  const text = (key: string): string => {
    const value = fields[key] ?? '';
    if (typeof value !== 'string') throw new ConfigError(`${where}.${key} must be a string`);
    return value;
  };
  const name = text('name');
  if (!TARGET_NAME.test(name)) throw new ConfigError(`${where}.name ${JSON.stringify(name)} must be 1-64 letters, digits, '.', '_' or '-'`);
  const whole = (key: string, what: string): number => {
    const value = fields[key] ?? 0;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new ConfigError(`${where}.${key} must be ${what}`);
    return value;
  };
  const agent = text('agent');
  if (agent !== '' && !isHostName(agent)) throw new ConfigError(`${where}.agent ${JSON.stringify(agent)} is not an agent's host name`);
  const common = {
    name,
    ownerAgent: agent === '' ? null : agent,
    bandwidthBytesPerS: whole('bandwidth_bytes_per_s', 'a whole number of bytes/s (0: unlimited)'),
    delayS: whole('delay_s', 'a whole number of seconds'),
  };
  let url: TargetUrl;
  try {
    url = parseTargetUrl(text('url'));
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(`${where}: ${err.message}`);
    throw err;
  }
  if (url.kind === 'file') return { kind: 'file', path: url.path, ...common };
  if (url.kind === 's3') {
    const { kind: _kind, ...address } = url;
    return { kind: 's3', address, settings: s3SettingsOf(s3, where), ...common };
  }
  const sshKey = text('ssh_key');
  const knownHosts = text('known_hosts');
  if (!isAbsolute(sshKey)) throw new ConfigError(`${where}: an ssh target needs ssh_key, the absolute path of a private key file`);
  if (!isAbsolute(knownHosts)) throw new ConfigError(`${where}: an ssh target needs known_hosts, the absolute path of a known_hosts file`);
  const { kind: _kind, ...address } = url;
  return { kind: 'ssh', address, sshKey, knownHosts, ...common };
}

/** The URL's path, decoded: absolute, with no `.`, `..` or empty step, since it becomes a folder path. */
function repositoryPath(url: URL): string {
  let path: string;
  try {
    path = decodeURIComponent(url.pathname).replace(/\/+$/, '');
  } catch {
    throw new ConfigError(`target path ${JSON.stringify(url.pathname)} is not valid percent-encoding`);
  }
  if (path === '') throw new ConfigError('a target may not be the root folder: name a folder for the repository');
  const steps = path.split('/').slice(1);
  if (!path.startsWith('/') || path.includes('\0') || steps.some((s) => s === '' || s === '.' || s === '..')) {
    throw new ConfigError(`target path ${JSON.stringify(path)} must be absolute, without '.', '..' or empty steps`);
  }
  return path;
}

const MIN_PART = 5 * 1024 * 1024;
const MAX_PART = 5 * 1024 * 1024 * 1024;

/** repo.s3 for a target that needs it; a ConfigError names what is missing or wrong. */
function s3SettingsOf(s3: AgentConfig['repo']['s3'], where: string): S3Settings {
  const problems: string[] = [];
  if (s3.access_key === '' || s3.secret_key === '') problems.push('an s3 target needs repo.s3.access_key and repo.s3.secret_key');
  let endpoint: string | null = null;
  if (s3.endpoint !== '') {
    let parsed: URL | null = null;
    try {
      parsed = new URL(s3.endpoint);
    } catch {
      problems.push(`repo.s3.endpoint ${JSON.stringify(s3.endpoint)} is not a URL`);
    }
    if (parsed) {
      if (!['http:', 'https:'].includes(parsed.protocol) || parsed.username || parsed.password || parsed.search || parsed.hash || parsed.pathname !== '/') {
        problems.push('repo.s3.endpoint must be http(s)://host[:port] with no path, credentials or query');
      } else endpoint = `${parsed.protocol}//${parsed.host}`;
    }
  }
  if (!/^[a-z0-9-]{1,32}$/.test(s3.region)) problems.push(`repo.s3.region ${JSON.stringify(s3.region)} is not a region name`);
  if (s3.part_size_bytes < MIN_PART || s3.part_size_bytes > MAX_PART) problems.push('repo.s3.part_size_bytes must be 5 MiB to 5 GiB (S3\'s limits)');
  if (s3.parallel_parts < 1 || s3.parallel_parts > 64) problems.push('repo.s3.parallel_parts must be 1 to 64');
  if (problems.length > 0) throw new ConfigError(`${where}: ${problems.join('; ')}`);
  return { endpoint, region: s3.region, accessKey: s3.access_key, secretKey: new Secret(s3.secret_key), partSizeBytes: s3.part_size_bytes, parallelParts: s3.parallel_parts };
}
