import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { LIBVIRT_URI } from '../test/support/guest.js';

/** One line of `virsh event --event lifecycle --timestamp`. */
export interface LifecycleEvent {
  domain: string;
  /** e.g. "Started", "Stopped", "Defined". */
  event: string;
  /** e.g. "Booted", "Destroyed". */
  detail: string;
  /** libvirt's timestamp of the event, in epoch ms. */
  atMs: number;
}

const LINE = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d{3})([+-]\d\d)(\d\d): event 'lifecycle' for domain '(.*)': (\S+) ?(.*)$/;

/** `2026-11-29 05:20:46.967+0000: event 'lifecycle' for domain 'x': Started Booted`, or null. */
export function parseLifecycleLine(line: string): LifecycleEvent | null {
  const m = LINE.exec(line.trim());
  if (!m) return null;
  const atMs = Date.parse(`${m[1]}T${m[2]}${m[3]}:${m[4]}`);
  if (!Number.isFinite(atMs)) return null;
  return { domain: m[5]!, event: m[6]!, detail: m[7]!, atMs };
}

/**
 * libvirt's lifecycle events of every domain, read from `virsh event --loop --timestamp`:
 * when a domain reached running, by libvirt's own clock, whoever started it (the agent or
 * a hand-run `virsh start`), without polling a machine that is busy restoring. virsh
 * registers its callback a moment after it starts: wait for one known event (the first
 * guest's start) before timing anything with it.
 */
export class LifecycleEvents {
  private readonly events: LifecycleEvent[] = [];
  private readonly listeners = new Set<() => void>();
  private exited: string | null = null;

  private constructor(private readonly child: ChildProcess) {}

  static start(): LifecycleEvents {
    const child = spawn('virsh', ['-c', LIBVIRT_URI, 'event', '--event', 'lifecycle', '--loop', '--timestamp'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const watch = new LifecycleEvents(child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const event = parseLifecycleLine(line);
      if (event) watch.record(event);
    });
    child.once('error', (err) => watch.end(`virsh event failed: ${err.message}`));
    child.once('exit', (code, signal) => watch.end(`virsh event exited (${signal ?? code}): ${stderr.trim()}`));
    return watch;
  }

  /** The time (epoch ms) of the domain's first `event` at or after `notBeforeMs`. */
  async next(domain: string, event: string, notBeforeMs: number, timeoutMs = 300_000): Promise<number> {
    const find = () => this.events.find((e) => e.domain === domain && e.event === event && e.atMs >= notBeforeMs);
    return new Promise<number>((resolve, reject) => {
      const check = () => {
        const found = find();
        if (found) settle(() => resolve(found.atMs));
        else if (this.exited) settle(() => reject(new Error(this.exited!)));
      };
      const timer = setTimeout(
        () => settle(() => reject(new Error(`no ${event} event of ${domain} within ${timeoutMs / 1000} s`))),
        timeoutMs,
      );
      const settle = (fn: () => void) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        fn();
      };
      this.listeners.add(check);
      check();
    });
  }

  stop(): void {
    this.end('stopped');
    this.child.kill('SIGTERM');
  }

  private record(event: LifecycleEvent): void {
    this.events.push(event);
    for (const listener of [...this.listeners]) listener();
  }

  private end(why: string): void {
    this.exited ??= why;
    for (const listener of [...this.listeners]) listener();
  }
}
