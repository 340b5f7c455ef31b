import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * OpenSSH's known_hosts format, read and matched without I/O (sshd(8), "SSH_KNOWN_HOSTS
 * FILE FORMAT"), so the SSH target decides whom it talks to the way `ssh` would, and the
 * rules are tested with plain strings. Supported: plain names and addresses, comma lists,
 * `[host]:port` for other ports than 22, `*`/`?` wildcards, `!` negation, hashed
 * `|1|salt|hmac` entries, `@revoked` keys (refused for every host) and comments.
 * `@cert-authority` lines are ignored: host certificates are not accepted, so such a line
 * can never vouch for a key.
 */

export interface KnownHostKey {
  marker: 'revoked' | null;
  /** The host patterns as written: names, `[name]:port`, wildcards, `!`, or one `|1|` hash. */
  patterns: string[];
  keyType: string;
  /** The key in SSH wire format (the base64 part, decoded). */
  blob: Buffer;
}

export type HostKeyVerdict =
  | { accepted: true }
  | { accepted: false; reason: 'unknown' | 'changed' | 'revoked'; detail: string };

/** The entries of a known_hosts file; lines that do not parse are skipped, as ssh does. */
export function parseKnownHosts(text: string): KnownHostKey[] {
  const entries: KnownHostKey[] = [];
  for (const raw of text.split('\n')) {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === '' || fields[0]?.startsWith('#')) continue;
    let marker: KnownHostKey['marker'] = null;
    if (fields[0]?.startsWith('@')) {
      if (fields[0] !== '@revoked') continue;
      marker = 'revoked';
      fields.shift();
    }
    const [hosts, keyType, base64] = fields;
    if (!hosts || !keyType || !base64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) continue;
    const blob = Buffer.from(base64, 'base64');
    if (keyTypeOf(blob) !== keyType) continue;
    entries.push({ marker, patterns: hosts.split(','), keyType, blob });
  }
  return entries;
}

/** The name a host is recorded under: `host` on port 22, `[host]:port` otherwise. */
export function knownHostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** Whether `key` (SSH wire format, as the server sent it) may be trusted as `host:port`'s. */
export function verifyHostKey(entries: readonly KnownHostKey[], host: string, port: number, key: Buffer): HostKeyVerdict {
  const name = knownHostName(host, port);
  const keyType = keyTypeOf(key) ?? 'an unreadable key';
  if (entries.some((e) => e.marker === 'revoked' && e.blob.equals(key))) {
    return { accepted: false, reason: 'revoked', detail: `the ${keyType} host key of ${name} is marked @revoked in known_hosts` };
  }
  const known = entries.filter((e) => e.marker === null && hostMatches(e.patterns, name));
  if (known.some((e) => e.blob.equals(key))) return { accepted: true };
  if (known.some((e) => e.keyType === keyType)) {
    return { accepted: false, reason: 'changed', detail: `the ${keyType} host key of ${name} is not the one known_hosts records: it changed` };
  }
  const types = [...new Set(known.map((e) => e.keyType))];
  const detail = types.length > 0 ? `known_hosts records only ${types.join(', ')} for ${name}, and it offered ${keyType}` : `${name} is not in known_hosts`;
  return { accepted: false, reason: 'unknown', detail };
}

/**
 * The host key algorithms to offer for `host:port`, best first: only those of keys
 * known_hosts records for it, so the server shows one the file can vouch for (ssh2 would
 * otherwise take the first it likes, and a host known by its ed25519 key that also has an
 * ECDSA key would look changed). Empty when the host is unknown.
 */
export function hostKeyAlgorithms(entries: readonly KnownHostKey[], host: string, port: number): string[] {
  const name = knownHostName(host, port);
  const types = new Set(entries.filter((e) => e.marker === null && hostMatches(e.patterns, name)).map((e) => e.keyType));
  return ALGORITHMS_BY_PREFERENCE.filter(([type]) => types.has(type)).flatMap(([, algorithms]) => algorithms);
}

const ALGORITHMS_BY_PREFERENCE: [string, string[]][] = [
  ['ssh-ed25519', ['ssh-ed25519']],
  ['ecdsa-sha2-nistp256', ['ecdsa-sha2-nistp256']],
  ['ecdsa-sha2-nistp384', ['ecdsa-sha2-nistp384']],
  ['ecdsa-sha2-nistp521', ['ecdsa-sha2-nistp521']],
  ['ssh-rsa', ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']],
];

/** The key type a wire-format key names in its first field, or null when it has none. */
export function keyTypeOf(blob: Buffer): string | null {
  if (blob.length < 4) return null;
  const length = blob.readUInt32BE(0);
  if (length === 0 || length > 64 || blob.length < 4 + length) return null;
  const type = blob.subarray(4, 4 + length).toString('latin1');
  return /^[A-Za-z0-9@._-]+$/.test(type) ? type : null;
}

/** A line's patterns match when one matches and no negated one does. */
function hostMatches(patterns: readonly string[], name: string): boolean {
  let matched = false;
  for (const pattern of patterns) {
    if (pattern.startsWith('!')) {
      if (globMatches(pattern.slice(1), name)) return false;
    } else if (pattern.startsWith('|1|') ? hashedMatches(pattern, name) : globMatches(pattern, name)) {
      matched = true;
    }
  }
  return matched;
}

/** `|1|<base64 salt>|<base64 HMAC-SHA1 of the name, keyed by the salt>` (ssh-keygen -H). */
function hashedMatches(pattern: string, name: string): boolean {
  const [, , salt, hash] = pattern.split('|');
  if (!salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const actual = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** OpenSSH's `*` and `?` wildcards, case-insensitive like host names. */
function globMatches(pattern: string, name: string): boolean {
  const source = [...pattern].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('');
  return new RegExp(`^${source}$`, 'i').test(name);
}
