/**
 * The known_hosts rules the SSH target trusts a server by, on plain strings. The keys and
 * the hashed lines are real: made with ssh-keygen (-t ed25519 / ecdsa, then -H), so the
 * hashing matches OpenSSH's own.
 */
import { describe, expect, it } from 'vitest';
import { hostKeyAlgorithms, knownHostName, parseKnownHosts, verifyHostKey } from '../../src/repo/ssh/known-hosts.js';

const K1 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIMpM8f148++jYv7jdJEngiUtKu1mnd1WvXRymfoo1mL';
const K2 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHqFq5/yL5LSVex6A4zkCbxD4+UEAZEcEih8CHCtafjP';
const K3 =
  'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBF0QEoITLE42c8wLNOTgxY7AT1lMXDc7lntZyVZb6j5QUpDM135E7kL1I/+N/q9GtrCb6S1Qaoz3d4uqilUy4X0=';
/** `[127.0.0.1]:2222 K1` and `dr.example.org K1`, hashed by `ssh-keygen -H`. */
const HASHED = [
  `|1|5cOwwv110ymhIeXbXrLeTIejJzE=|lkya4KxIVV3On6N+EOk6tfVvvaE= ${K1}`,
  `|1|xnfYUmCZ5SsKzUJ7Ap+YyO0aQyU=|QlsW8H6TE/fPY0vj1e+b5dEXmjQ= ${K1}`,
].join('\n');

const blob = (line: string) => Buffer.from(line.split(' ')[1]!, 'base64');
const verdict = (text: string, host: string, port: number, key: string) => verifyHostKey(parseKnownHosts(text), host, port, blob(key));

describe('known_hosts', () => {
  it('names a host as ssh does: bare on port 22, [host]:port otherwise', () => {
    expect(knownHostName('dr.example.org', 22)).toBe('dr.example.org');
    expect(knownHostName('10.0.0.5', 2222)).toBe('[10.0.0.5]:2222');
    expect(knownHostName('::1', 2222)).toBe('[::1]:2222');
  });

  it('accepts the recorded key of a plain name, a comma list and a [host]:port entry', () => {
    const text = `# a comment\n\ndr.example.org,10.0.0.5 ${K1} root@dr\n[10.0.0.6]:2222 ${K2}\n`;
    expect(verdict(text, 'dr.example.org', 22, K1)).toEqual({ accepted: true });
    expect(verdict(text, '10.0.0.5', 22, K1)).toEqual({ accepted: true });
    expect(verdict(text, '10.0.0.6', 2222, K2)).toEqual({ accepted: true });
    expect(verdict(text, 'DR.EXAMPLE.ORG', 22, K1)).toEqual({ accepted: true });
  });

  it('keeps ports apart: an entry for port 22 does not vouch for 2222, nor the reverse', () => {
    expect(verdict(`dr.example.org ${K1}`, 'dr.example.org', 2222, K1)).toMatchObject({ accepted: false, reason: 'unknown' });
    expect(verdict(`[dr.example.org]:2222 ${K1}`, 'dr.example.org', 22, K1)).toMatchObject({ accepted: false, reason: 'unknown' });
  });

  it('matches hashed entries written by ssh-keygen -H', () => {
    expect(verdict(HASHED, '127.0.0.1', 2222, K1)).toEqual({ accepted: true });
    expect(verdict(HASHED, 'dr.example.org', 22, K1)).toEqual({ accepted: true });
    expect(verdict(HASHED, '127.0.0.1', 22, K1)).toMatchObject({ accepted: false, reason: 'unknown' });
    expect(verdict(HASHED, '127.0.0.1', 2222, K2)).toMatchObject({ accepted: false, reason: 'changed' });
  });

  it('refuses another key of the recorded type as changed', () => {
    const result = verdict(`dr.example.org ${K1}`, 'dr.example.org', 22, K2);
    expect(result).toEqual({ accepted: false, reason: 'changed', detail: expect.stringMatching(/ssh-ed25519 host key of dr.example.org .* changed/) });
  });

  it('refuses a key of a type known_hosts does not record for the host, and an unknown host', () => {
    expect(verdict(`dr.example.org ${K1}`, 'dr.example.org', 22, K3)).toEqual({
      accepted: false,
      reason: 'unknown',
      detail: 'known_hosts records only ssh-ed25519 for dr.example.org, and it offered ecdsa-sha2-nistp256',
    });
    expect(verdict(`other.example.org ${K1}`, 'dr.example.org', 22, K1)).toMatchObject({ accepted: false, reason: 'unknown' });
    expect(verdict('', 'dr.example.org', 22, K1)).toMatchObject({ accepted: false, reason: 'unknown' });
  });

  it('refuses a key marked @revoked, whatever else accepts it', () => {
    const text = `dr.example.org ${K1}\n@revoked * ${K1}\n`;
    expect(verdict(text, 'dr.example.org', 22, K1)).toMatchObject({ accepted: false, reason: 'revoked' });
    expect(verdict(`dr.example.org ${K1}\n@revoked other.example.org ${K1}\n`, 'dr.example.org', 22, K1)).toMatchObject({ reason: 'revoked' });
  });

  it('ignores @cert-authority lines: they never vouch for a key', () => {
    expect(verdict(`@cert-authority *.example.org ${K1}`, 'dr.example.org', 22, K1)).toMatchObject({ accepted: false, reason: 'unknown' });
  });

  it('follows wildcards and negations', () => {
    const text = `*.example.org,!bad.example.org ${K1}\n10.0.0.? ${K2}`;
    expect(verdict(text, 'dr.example.org', 22, K1)).toEqual({ accepted: true });
    expect(verdict(text, 'bad.example.org', 22, K1)).toMatchObject({ accepted: false, reason: 'unknown' });
    expect(verdict(text, '10.0.0.7', 22, K2)).toEqual({ accepted: true });
    expect(verdict(text, '10.0.0.17', 22, K2)).toMatchObject({ accepted: false });
  });

  it('skips lines whose key does not parse or names another type than its blob', () => {
    const wrongType = `dr.example.org ssh-rsa ${K1.split(' ')[1]}`;
    const garbled = 'dr.example.org ssh-ed25519 !!!not-base64';
    expect(parseKnownHosts(`${wrongType}\n${garbled}\ndr.example.org\n`)).toEqual([]);
    expect(verdict(wrongType, 'dr.example.org', 22, K1)).toMatchObject({ accepted: false, reason: 'unknown' });
  });

  it('offers only the host key algorithms recorded for the host, best first', () => {
    const entries = parseKnownHosts(`dr.example.org ${K3}\ndr.example.org ${K1}\n[dr.example.org]:2222 ${K2}\n`);
    expect(hostKeyAlgorithms(entries, 'dr.example.org', 22)).toEqual(['ssh-ed25519', 'ecdsa-sha2-nistp256']);
    expect(hostKeyAlgorithms(entries, 'dr.example.org', 2222)).toEqual(['ssh-ed25519']);
    expect(hostKeyAlgorithms(entries, 'unknown.example.org', 22)).toEqual([]);
  });
});
