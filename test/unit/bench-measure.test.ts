import { describe, expect, it } from 'vitest';
import { freezeWindowsOf } from '../../bench/libvirtd-agent-log.js';
import { parseLifecycleLine } from '../../bench/lifecycle-events.js';
import { parseCpuSeconds, parsePeakRssKiB } from '../../bench/measure.js';
import { max, median, percentile } from '../../bench/stats.js';

const line = (time: string, func: string, text: string) => `2026-11-25 ${time}+0000: 31522: debug : ${func}:1039 : ${text}`;
const send = (time: string, command: string) =>
  line(time, 'qemuAgentCommandFull', `Send command '{"execute":"${command}"}' for write, seconds = -2`);
const reply = (time: string, body = '{"return": 1}') => line(time, 'qemuAgentIOProcessLine', `Line [${body}]`);

describe('freezeWindowsOf (libvirtd guest agent log)', () => {
  it('measures from the freeze reply to the thaw reply', () => {
    const log = [
      line('02:11:19.290', 'qemuAgentGuestSync', 'Sending guest-sync command with ID: 1'),
      reply('02:11:19.291', '{"return": 1795572679}'),
      send('02:11:19.296', 'guest-fsfreeze-freeze'),
      reply('02:11:19.359'),
      send('02:11:19.417', 'guest-fsfreeze-thaw'),
      reply('02:11:19.431'),
      line('02:11:19.431', 'qemuAgentIOProcessData', 'Total used 14 bytes out of 14 available in buffer'),
    ].join('\n');
    expect(freezeWindowsOf(log)).toEqual([72]);
  });

  it('pairs several cycles, across a second boundary, and ignores other commands', () => {
    const log = [
      send('02:00:00.950', 'guest-fsfreeze-freeze-list'),
      reply('02:00:00.990'),
      send('02:00:01.000', 'guest-ping'),
      reply('02:00:01.001', '{"return": {}}'),
      send('02:00:01.010', 'guest-fsfreeze-thaw'),
      reply('02:00:01.020'),
      send('02:00:05.000', 'guest-fsfreeze-freeze'),
      reply('02:00:05.100'),
      send('02:00:05.150', 'guest-fsfreeze-thaw'),
      reply('02:00:05.160'),
    ].join('\n');
    expect(freezeWindowsOf(log)).toEqual([30, 60]);
  });

  it('counts no window for a freeze that failed', () => {
    const log = [
      send('02:00:00.000', 'guest-fsfreeze-freeze'),
      reply('02:00:00.010', '{"error": {"class": "GenericError", "desc": "busy"}}'),
      send('02:00:00.020', 'guest-fsfreeze-thaw'),
      reply('02:00:00.030'),
    ].join('\n');
    expect(freezeWindowsOf(log)).toEqual([]);
  });
});

describe('order statistics', () => {
  const samples = [5, 1, 4, 2, 3];
  it('takes real samples for percentiles (nearest rank)', () => {
    expect(percentile(samples, 95)).toBe(5);
    expect(percentile(samples, 50)).toBe(3);
    expect(percentile([10, 20], 0)).toBe(10);
  });
  it('averages the two middle samples for an even median', () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median(samples)).toBe(3);
    expect(max(samples)).toBe(5);
  });
  it('refuses an empty set', () => {
    expect(() => median([])).toThrow('no samples');
  });
});

describe('/proc readings', () => {
  it('reads utime and stime even when the command name holds spaces and parentheses', () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
    fields[11] = '250'; // utime (field 14)
    fields[12] = '50'; // stime (field 15)
    expect(parseCpuSeconds(`1234 (node (x) y) ${fields.join(' ')}`)).toBe(3);
  });
  it('reads the peak resident set', () => {
    expect(parsePeakRssKiB('Name:\tnode\nVmHWM:\t  123456 kB\nVmRSS:\t 100 kB\n')).toBe(123456);
  });
});

describe('parseLifecycleLine (virsh event --timestamp)', () => {
  it('reads the domain, the event and libvirt\'s timestamp', () => {
    expect(parseLifecycleLine("2026-11-29 05:20:46.967+0000: event 'lifecycle' for domain 'vdr-bench-restore': Started Booted")).toEqual({
      domain: 'vdr-bench-restore',
      event: 'Started',
      detail: 'Booted',
      atMs: Date.parse('2026-11-29T05:20:46.967Z'),
    });
    expect(parseLifecycleLine("2026-11-29 05:20:49.399+0100: event 'lifecycle' for domain 'a b': Shutdown Finished after host request")).toMatchObject({
      domain: 'a b',
      event: 'Shutdown',
      detail: 'Finished after host request',
      atMs: Date.parse('2026-11-29T04:20:49.399Z'),
    });
  });

  it('ignores anything else', () => {
    expect(parseLifecycleLine('')).toBeNull();
    expect(parseLifecycleLine("event 'lifecycle' for domain 'x': Started Booted")).toBeNull();
    expect(parseLifecycleLine("2026-11-29 05:20:46.967+0000: event 'reboot' for domain 'x'")).toBeNull();
  });
});
