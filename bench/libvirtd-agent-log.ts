import { readFile, rm } from 'node:fs/promises';
import { run } from '../test/support/guest.js';

/**
 * The freeze window as libvirtd sees it, for the agent and for hand-run virsh alike: from
 * the guest agent's reply to guest-fsfreeze-freeze to its reply to guest-fsfreeze-thaw.
 * Neither virsh nor the guest reports the window, but libvirtd's debug log of its guest
 * agent traffic times both replies, so one measurement serves both sides of the comparison.
 */
export class LibvirtdAgentLog {
  private constructor(
    private readonly file: string,
    private readonly savedFilters: string,
    private readonly savedOutputs: string,
  ) {}

  /** Adds a debug output for libvirtd's guest agent module only; `stop` puts back what was there. */
  static async start(file: string): Promise<LibvirtdAgentLog> {
    // A run killed before `stop` left its own entries behind: they are not the host's to keep.
    const savedFilters = without(settingOf((await run('virt-admin', ['daemon-log-filters'])).stdout, 'Logging filters'), AGENT_FILTER);
    const savedOutputs = without(settingOf((await run('virt-admin', ['daemon-log-outputs'])).stdout, 'Logging outputs'), `1:file:${file}`);
    await rm(file, { force: true });
    await run('virt-admin', ['daemon-log-filters', `${AGENT_FILTER} ${savedFilters}`.trim()]);
    await run('virt-admin', ['daemon-log-outputs', `1:file:${file} ${savedOutputs}`.trim()]);
    return new LibvirtdAgentLog(file, savedFilters, savedOutputs);
  }

  /** Every complete freeze window logged so far, in ms, oldest first. */
  async windows(): Promise<number[]> {
    const text = await readFile(this.file, 'utf8').catch(() => '');
    return freezeWindowsOf(text);
  }

  async stop(): Promise<void> {
    await run('virt-admin', ['daemon-log-outputs', this.savedOutputs]);
    await run('virt-admin', ['daemon-log-filters', this.savedFilters]);
    await rm(this.file, { force: true });
  }
}

/** Debug level for libvirtd's guest agent module only. */
const AGENT_FILTER = '1:qemu.qemu_agent';

/** A space-separated libvirt log setting without one entry. */
function without(setting: string, entry: string): string {
  return setting
    .split(/\s+/)
    .filter((e) => e !== '' && e !== entry)
    .join(' ');
}

/** `virt-admin daemon-log-outputs` prints " Logging outputs: 3:file:/var/log/libvirt/libvirtd.log". */
function settingOf(printed: string, label: string): string {
  const line = printed.split('\n').find((l) => l.trim().startsWith(`${label}:`));
  if (line === undefined) throw new Error(`virt-admin printed no "${label}" line: ${printed}`);
  return line.slice(line.indexOf(':') + 1).trim();
}

const LINE = /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})\+0000: \d+: debug : (\w+):\d+ : (.*)$/;

/**
 * Pairs each freeze reply with the next thaw reply. A reply is the first agent line after
 * the command was sent; guest-sync exchanges in between are other commands and are skipped.
 */
export function freezeWindowsOf(log: string): number[] {
  const windows: number[] = [];
  let awaiting: 'freeze' | 'thaw' | null = null;
  let frozenAt: number | null = null;
  for (const raw of log.split('\n')) {
    const m = LINE.exec(raw);
    if (!m) continue;
    const [, stamp, func, text] = m as unknown as [string, string, string, string];
    if (func === 'qemuAgentCommandFull' && text.startsWith('Send command ')) {
      awaiting = text.includes('"guest-fsfreeze-freeze') ? 'freeze' : text.includes('"guest-fsfreeze-thaw"') ? 'thaw' : null;
      continue;
    }
    if (func !== 'qemuAgentIOProcessLine' || !text.startsWith('Line [') || awaiting === null) continue;
    const at = Date.parse(`${stamp.replace(' ', 'T')}Z`);
    if (!text.includes('"return"')) {
      // The command failed; whatever it was waiting for will not come.
      if (awaiting === 'freeze') frozenAt = null;
    } else if (awaiting === 'freeze') {
      frozenAt = at;
    } else if (frozenAt !== null) {
      windows.push(at - frozenAt);
      frozenAt = null;
    }
    awaiting = null;
  }
  return windows;
}
