import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { parseTargetUrl, targetLocation, targetSpecs } from '../../src/repo/target-config.js';

const repo = (fields: Partial<ReturnType<typeof loadConfig>['repo']>) => ({ ...loadConfig({}).repo, ...fields });
const ssh = { name: 'dr', url: 'ssh://backup@dr-1.example:2222/srv/virt-dr', ssh_key: '/etc/virt-dr/id', known_hosts: '/etc/virt-dr/known_hosts' };

describe('repository targets from the configuration', () => {
  it('keeps repo.path as the one file target when nothing else is set', () => {
    expect(targetSpecs(repo({ path: '/srv/repo' }))).toEqual([{ kind: 'file', name: 'local', path: '/srv/repo', bandwidthBytesPerS: 0, delayS: 0, ownerAgent: null }]);
  });

  it('reads one target from the environment, named primary', () => {
    const config = loadConfig({
      env: {
        VIRT_DR_REPO_URL: ssh.url,
        VIRT_DR_REPO_SSH_KEY: ssh.ssh_key,
        VIRT_DR_REPO_SSH_KNOWN_HOSTS: ssh.known_hosts,
        VIRT_DR_REPO_BANDWIDTH: '52428800',
      },
    });
    const [spec] = targetSpecs(config.repo);
    expect(spec).toEqual({
      kind: 'ssh',
      name: 'primary',
      address: { user: 'backup', host: 'dr-1.example', port: 2222, path: '/srv/virt-dr' },
      sshKey: ssh.ssh_key,
      knownHosts: ssh.known_hosts,
      bandwidthBytesPerS: 52428800,
      delayS: 0,
      ownerAgent: null,
    });
    expect(targetLocation(spec!)).toBe('ssh://backup@dr-1.example:2222/srv/virt-dr');
  });

  it('reads a list, the first the primary', () => {
    const specs = targetSpecs(repo({ targets: [{ name: 'nfs', url: 'file:///mnt/nfs/virt-dr/' }, ssh] }));
    expect(specs.map((s) => [s.kind, s.name])).toEqual([
      ['file', 'nfs'],
      ['ssh', 'dr'],
    ]);
    expect(specs[0]).toMatchObject({ path: '/mnt/nfs/virt-dr' });
  });

  it('parses IPv6 hosts and the default port', () => {
    expect(parseTargetUrl('ssh://u@[::1]/r')).toEqual({ kind: 'ssh', user: 'u', host: '::1', port: 22, path: '/r' });
  });

  it('refuses a bad list whole, naming every problem', () => {
    let message = '';
    try {
      targetSpecs(
        repo({
          targets: [
            { name: 'a', url: 'ftp://x/y' },
            { name: 'b', url: 'ssh://u:secret@h/p', ssh_key: '/k', known_hosts: '/kh' },
            { name: 'c', url: 'ssh://u@h/p' },
            { name: 'c', url: 'file:///srv/../etc' },
            { name: '../x', url: 'file:///srv' },
            { name: 'd', url: 'file:///srv', bandwidth_bytes_per_s: -1 },
            { name: 'e', url: 'file:///', color: 'red' },
          ],
        }),
      );
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    for (const part of ['ftp:', 'password', 'ssh_key', "'..'", 'name "../x"', 'bandwidth_bytes_per_s', 'color']) expect(message).toContain(part);
    expect(message).not.toContain('secret');
  });

  it('refuses repo.url and repo.targets together', () => {
    expect(() => targetSpecs(repo({ url: 'file:///srv', targets: [ssh] }))).toThrow(/not both/);
  });
});

describe('roles', () => {
  it('default to compute, and read a comma-separated list', () => {
    expect(loadConfig({}).roles).toEqual(['compute']);
    expect(loadConfig({ env: { VIRT_DR_ROLES: 'dr, compute' } }).roles).toEqual(['dr', 'compute']);
  });

  it('refuse anything else', () => {
    expect(() => loadConfig({ env: { VIRT_DR_ROLES: 'compute,storage' } })).toThrow(/storage/);
  });
});
