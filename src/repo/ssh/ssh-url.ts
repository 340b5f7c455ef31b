import { InvalidArgument } from '../../errors.js';
import type { SshAddress } from '../target-config.js';

/**
 * `ssh://user@host:port/path`, read strictly into its parts once (the configuration's
 * SshAddress). The root path becomes part of every remote path the target names, and of
 * the one command it runs remotely (`sha256sum`, single-quoted), so it is held to a plain
 * character set as well; the error never repeats the URL, which may hold a password by
 * mistake.
 */
export type SshUrl = SshAddress;

const URL_PATTERN = /^ssh:\/\/([^@/?#]+)@(\[[^\]/?#]*\]|[^:/?#[\]]*)(?::([0-9]*))?(\/[^?#]*)?$/;
const USER = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,31}$/;
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV6 = /^[0-9A-Fa-f:.]{2,45}$/;
const PATH_PART = /^[A-Za-z0-9_][A-Za-z0-9._+-]{0,254}$/;

export function parseSshUrl(url: string): SshUrl {
  const refuse = (why: string) => new InvalidArgument(`repository URL refused: ${why}; expected ssh://user@host[:port]/absolute/path`);
  if (!url.startsWith('ssh://')) throw refuse('not an ssh:// URL');
  const m = URL_PATTERN.exec(url);
  if (!m) throw refuse(url.includes('@') ? 'it does not parse (a query, a fragment or a stray character)' : 'no user name');
  const [, userinfo = '', rawHost = '', rawPort, path] = m;
  if (userinfo.includes(':')) throw refuse('it carries a password; the SSH target authenticates with a key only');
  if (!USER.test(userinfo)) throw refuse('the user name is not a plain user name');
  const host = rawHost.startsWith('[') ? rawHost.slice(1, -1) : rawHost;
  if (rawHost.startsWith('[') ? !(IPV6.test(host) && host.includes(':')) : !HOST_NAME.test(host)) {
    throw refuse('the host is not a host name, an IPv4 address or a bracketed IPv6 address');
  }
  const port = rawPort === undefined ? 22 : Number(rawPort);
  if (!/^[0-9]{1,5}$/.test(rawPort ?? '22') || port < 1 || port > 65535) throw refuse('the port is not 1-65535');
  if (path === undefined) throw refuse('no root path');
  const parts = path.split('/').slice(1);
  if (parts.at(-1) === '') parts.pop();
  if (parts.length === 0) throw refuse('the root path is /');
  if (!parts.every((p) => PATH_PART.test(p))) {
    throw refuse('each part of the root path must be letters, digits, ".", "_", "+" or "-", not starting with "."');
  }
  // The root: absolute, no trailing slash, no part that starts with a dot (so no `.` or `..`).
  return { user: userinfo, host, port, path: `/${parts.join('/')}` };
}

/** The URL as logs and replies show it: nothing secret is ever part of an SshUrl. */
export function sshLocation(url: SshUrl): string {
  const host = url.host.includes(':') ? `[${url.host}]` : url.host;
  return `ssh://${url.user}@${host}:${url.port}${url.path}`;
}
