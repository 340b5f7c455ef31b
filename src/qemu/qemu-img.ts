import { spawn } from 'node:child_process';
import { ToolFailed } from '../errors.js';

/**
 * qemu-img, always spawned with an argument array (never a shell), and always with
 * `-U` (force-share) when reading: the images it reads are layers a running QEMU holds
 * open read-only below the active overlay, so they no longer change.
 */
export interface ImageInfo {
  virtualSize: number;
  actualSize: number;
  format: string;
  backingFile: string | null;
}

export async function imageInfo(path: string): Promise<ImageInfo> {
  const { stdout } = await run(['info', '-U', '--output=json', path]);
  const info = JSON.parse(stdout) as Record<string, unknown>;
  return {
    virtualSize: Number(info['virtual-size']),
    actualSize: Number(info['actual-size'] ?? 0),
    format: String(info.format),
    backingFile: typeof info['backing-filename'] === 'string' ? info['backing-filename'] : null,
  };
}

/**
 * Flattens a chain into one qcow2 file. `onPercent` receives qemu-img's own progress
 * (0–100), read from its `-p` output.
 */
export async function convertToQcow2(
  source: string,
  destination: string,
  options: { signal?: AbortSignal; onPercent?: (percent: number) => void } = {},
): Promise<void> {
  await run(['convert', '-U', '-p', '-O', 'qcow2', source, destination], options);
}

/**
 * Points an overlay at a new backing file without touching its data (`rebase -u`). Safe
 * only when the new backing holds exactly the content the old one did, which is true of
 * a repository point and the host layer it was copied from.
 */
export async function relinkBacking(overlay: string, backingFile: string, backingFormat: string): Promise<void> {
  await run(['rebase', '-u', '-b', backingFile, '-F', backingFormat, overlay]);
}

async function run(
  args: string[],
  options: { signal?: AbortSignal; onPercent?: (percent: number) => void } = {},
): Promise<{ stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('qemu-img', args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.signal ? { signal: options.signal } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (options.onPercent) {
        // -p redraws "    (12.34/100%)" with carriage returns.
        const matches = [...chunk.matchAll(/\((\d+(?:\.\d+)?)\/100%\)/g)];
        const last = matches.at(-1);
        if (last?.[1]) options.onPercent(Number(last[1]));
      }
      if (stdout.length > 1 << 20) stdout = stdout.slice(-(1 << 16));
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-8192);
    });
    child.on('error', (err) => reject(options.signal?.aborted ? options.signal.reason : new ToolFailed(`qemu-img ${args[0]}: ${err.message}`, { cause: err })));
    child.on('close', (code) => {
      if (code === 0) resolve({ stdout });
      else reject(new ToolFailed(`qemu-img ${args[0]} exited ${code}: ${stderr.trim()}`));
    });
  });
}

/**
 * The names of the persistent dirty bitmaps stored in a qcow2 image. On an image a running
 * QEMU holds open this is what the image had when QEMU opened it (bitmaps QEMU created
 * since are written at close), which is where stale ones hide.
 */
export async function listBitmaps(path: string): Promise<string[]> {
  const { stdout } = await run(['info', '-U', '-f', 'qcow2', '--output=json', path]);
  const info = JSON.parse(stdout) as { 'format-specific'?: { data?: { bitmaps?: { name?: unknown }[] } } };
  const bitmaps = info['format-specific']?.data?.bitmaps ?? [];
  return bitmaps.map((b) => b.name).filter((name): name is string => typeof name === 'string');
}
