import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../support/project-root.js';

const execFileP = promisify(execFile);
const UNIT = path.join(projectRoot(import.meta.url), 'deploy', 'virt-dr-agent.service');

/**
 * The systemd unit as systemd itself reads it (`systemd-analyze verify` parses a unit file
 * without a running systemd): every directive known, and the confinement the agent
 * relies on present. This machine has no systemd, so the unit is not started here.
 */
describe('deploy/virt-dr-agent.service', () => {
  it('parses cleanly with systemd-analyze verify', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'vdr-unit-'));
    try {
      const copy = path.join(dir, 'virt-dr-agent.service');
      await copyFile(UNIT, copy);
      const { stderr } = await execFileP('systemd-analyze', ['verify', copy]);
      expect(stderr.trim()).toBe('');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('confines the daemon: no new privileges, a read-only system, private /tmp, umask 0077, few capabilities', async () => {
    const directives = new Map(
      (await readFile(UNIT, 'utf8'))
        .split('\n')
        .filter((line) => /^[A-Za-z]+=/.test(line))
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as const),
    );
    expect(directives.get('NoNewPrivileges')).toBe('yes');
    expect(directives.get('ProtectSystem')).toBe('strict');
    expect(directives.get('PrivateTmp')).toBe('yes');
    expect(directives.get('UMask')).toBe('0077');
    expect(directives.get('ReadWritePaths')?.split(' ')).toEqual(expect.arrayContaining(['/var/lib/virt-dr', '-/var/lib/libvirt/images']));
    expect(directives.get('CapabilityBoundingSet')?.split(' ').sort()).toEqual(['CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER']);
  });
});
