import { spawn } from 'node:child_process';
import { dirname, isAbsolute, resolve } from 'node:path';
import { ToolFailed, UnsupportedDisk } from '../errors.js';

/**
 * qemu-img, always spawned with an argument array (never a shell), and always with
 * `-U` (force-share) when reading: the images it reads are layers a running QEMU holds
 * open read-only below the active overlay, so they no longer change.
 *
 * **No image is ever probed.** A disk's bytes are the guest's: a raw disk whose first
 * sector looks like a qcow2 header naming `/etc/shadow` as its backing file would, if
 * probed, be read as that qcow2 and pull the host file into the backup. So every call
 * names the format of every layer it opens:
 * - `info` gets `-f` and opens one layer only (qemu-img info never opens a backing file
 *   without `--backing-chain`, which this module never uses);
 * - `convert` gets `-f` for the top layer and a `json:` description of the whole chain
 *   that names each layer's driver and file and ends it with `"backing": null`;
 * - `rebase -u` gets `-f` for the overlay and `-F` for its new backing;
 * - `compare` and `check` get `-f`/`-F` and the same `json:` descriptions;
 * - `rebase` in safe mode (repository merges only) gets `-f` and `-F`; the old backing it
 *   reads is a repository point, whose headers the agent wrote with their formats.
 *
 * A chain's formats come from the images' own records, read layer by layer (`readChain`):
 * a qcow2 layer records its backing file's format in its header (libvirt and qemu-img
 * write it; a guest cannot reach a qcow2 header). A layer that names a backing file
 * without its format is refused with UnsupportedDisk, never guessed.
 */
export type ImageFormat = 'qcow2' | 'raw';

/** One layer of an image chain: a local file and the format it is opened with. */
export interface ImageLayer {
  file: string;
  format: ImageFormat;
}

export interface ImageInfo {
  virtualSize: number;
  actualSize: number;
  format: string;
  /** The backing file as the header records it (maybe relative), or null. */
  backingFile: string | null;
  /** The backing file's format as the header records it; null when it records none. */
  backingFormat: string | null;
}

/** Chains deeper than this are refused: a loop, or nothing the agent made. */
const MAX_CHAIN_LAYERS = 64;

export function isImageFormat(value: unknown): value is ImageFormat {
  return value === 'qcow2' || value === 'raw';
}

/** `qemu-img info` of one layer, opened as `format`; its backing file is not opened. */
export async function imageInfo(path: string, format: ImageFormat): Promise<ImageInfo> {
  const { stdout } = await run(infoArgs({ file: path, format }));
  const info = JSON.parse(stdout) as Record<string, unknown>;
  const text = (key: string) => (typeof info[key] === 'string' ? info[key] : null);
  return {
    virtualSize: Number(info['virtual-size']),
    actualSize: Number(info['actual-size'] ?? 0),
    format: String(info.format),
    backingFile: text('backing-filename'),
    backingFormat: text('backing-filename-format'),
  };
}

/**
 * The chain below `top`, top first, each layer with the format its parent's header
 * records. Refuses (UnsupportedDisk) a layer that names a backing file without its
 * format, a backing that is not a plain local file, a loop and a chain deeper than 64.
 */
export async function readChain(top: ImageLayer): Promise<ImageLayer[]> {
  const chain = [checkLayer(top)];
  for (;;) {
    const layer = chain.at(-1)!;
    const below = backingLayer(layer, await imageInfo(layer.file, layer.format));
    if (below === null) return chain;
    if (chain.some((l) => l.file === below.file) || chain.length >= MAX_CHAIN_LAYERS) {
      throw new UnsupportedDisk(`the image chain of ${top.file} loops or is deeper than ${MAX_CHAIN_LAYERS} layers`);
    }
    chain.push(below);
  }
}

/** The layer below `layer`, from its `info`; null when it has none. Pure. */
export function backingLayer(layer: ImageLayer, info: ImageInfo): ImageLayer | null {
  if (info.backingFile === null) return null;
  const named = JSON.stringify(info.backingFile.slice(0, 200));
  if (info.backingFormat === null) {
    throw new UnsupportedDisk(`${layer.file} names its backing file ${named} without its format; the agent never guesses a format`);
  }
  if (!isImageFormat(info.backingFormat)) {
    throw new UnsupportedDisk(`${layer.file} has a ${info.backingFormat} backing file ${named}; only qcow2 and raw are supported`);
  }
  if (info.backingFile.startsWith('json:') || /^[a-z][a-z0-9+.-]*:\/\//i.test(info.backingFile)) {
    throw new UnsupportedDisk(`${layer.file} has backing ${named}, which is not a local file`);
  }
  return { file: resolve(dirname(layer.file), info.backingFile), format: info.backingFormat };
}

/**
 * Flattens a chain (top first, as `readChain` returns it) into one qcow2 file.
 * `onPercent` receives qemu-img's own progress (0–100), read from its `-p` output.
 */
export async function convertToQcow2(
  chain: readonly ImageLayer[],
  destination: string,
  options: RunOptions = {},
): Promise<void> {
  await convertChain(chain, { file: destination, format: 'qcow2' }, options);
}

/** Flattens a chain into one file of `format` (a restore keeps the format its owner uses). */
export async function convertChain(
  chain: readonly ImageLayer[],
  destination: ImageLayer,
  options: RunOptions = {},
): Promise<void> {
  await run(convertArgs(chain, destination.file, destination.format), options);
}

/** Creates an empty qcow2 image of `virtualSize` bytes, with no backing file or over `backing`. */
export async function createQcow2(path: string, virtualSize: number, backing?: ImageLayer): Promise<void> {
  await run(createArgs(path, virtualSize, backing));
}

/**
 * Points an overlay at a new backing file without touching its data (`rebase -u`). Safe
 * only when the new backing holds exactly the content the old one did, which is true of
 * a repository point and the host layer it was copied from. `backing.file` may be
 * relative to the overlay's folder; with `-u` it is recorded, not opened.
 */
export async function relinkBacking(overlay: ImageLayer, backing: ImageLayer): Promise<void> {
  await run(rebaseArgs(overlay, backing));
}

/**
 * Whether two chains hold the same guest-visible content (`qemu-img compare`: unallocated
 * and zero clusters compare equal, as the guest sees them). Both chains are opened
 * read-only through their `json:` descriptions.
 */
export async function sameContent(a: readonly ImageLayer[], b: readonly ImageLayer[], options: RunOptions = {}): Promise<boolean> {
  const { code } = await run(compareArgs(a, b), { ...options, exitCodes: [0, 1] });
  return code === 0;
}

/** What `qemu-img check` found in one layer (its backing file is not opened). */
export interface CheckResult {
  /** Corruptions or a failed check: the layer cannot be trusted. */
  ok: boolean;
  detail: string;
}

/** `qemu-img check` of one layer: exit 0 clean, 3 leaked clusters only (harmless), 2 corrupt, 1 could not check. */
export async function checkImage(layer: ImageLayer, options: RunOptions = {}): Promise<CheckResult> {
  const { code, stdout, stderr } = await run(checkArgs(layer), { ...options, exitCodes: [0, 1, 2, 3] });
  if (code === 0 || code === 3) return { ok: true, detail: code === 3 ? 'leaked clusters only' : 'clean' };
  const report = stdout.trim() || stderr.trim();
  return { ok: false, detail: code === 2 ? `corrupt: ${report.slice(0, 300)}` : `could not be checked: ${report.slice(0, 300)}` };
}

/**
 * Moves an overlay onto another backing file keeping its guest-visible content (`rebase`
 * in safe mode): every cluster where the old and the new backing differ is copied into
 * the overlay first. With `backing` null the overlay is flattened onto nothing. The old
 * backing chain is opened with the formats its headers record; `backing.file` may be
 * relative to the overlay's folder, as it is recorded.
 */
export async function rebaseKeepingContent(overlay: ImageLayer, backing: ImageLayer | null, options: RunOptions = {}): Promise<void> {
  await run(safeRebaseArgs(overlay, backing), options);
}

/** `qemu-img compare` of two chains. Pure. */
export function compareArgs(a: readonly ImageLayer[], b: readonly ImageLayer[]): string[] {
  const [topA, topB] = [a[0], b[0]];
  if (!topA || !topB) throw new UnsupportedDisk('an image chain needs at least one layer');
  return ['compare', '-U', '-f', topA.format, '-F', topB.format, chainSpec(a), chainSpec(b)];
}

/** `qemu-img check` of one layer, its backing left closed. Pure. */
export function checkArgs(layer: ImageLayer): string[] {
  return ['check', '-U', '--output=json', '-f', layer.format, chainSpec([layer])];
}

/** `qemu-img rebase` in safe mode, with `-p` for its progress. Pure. */
export function safeRebaseArgs(overlay: ImageLayer, backing: ImageLayer | null): string[] {
  if (overlay.format !== 'qcow2') throw new UnsupportedDisk(`${overlay.file}: only a qcow2 overlay has a backing file`);
  checkLayer(overlay);
  if (backing === null) return ['rebase', '-p', '-f', 'qcow2', '-b', '', overlay.file];
  checkFormat(backing);
  return ['rebase', '-p', '-f', 'qcow2', '-b', backing.file, '-F', backing.format, overlay.file];
}

/** `qemu-img create` of an empty qcow2 image. Pure. */
export function createArgs(path: string, virtualSize: number, backing?: ImageLayer): string[] {
  if (!Number.isSafeInteger(virtualSize) || virtualSize <= 0) throw new RangeError(`invalid image size ${virtualSize}`);
  const over = backing ? ['-b', checkLayer(backing).file, '-F', backing.format] : [];
  return ['create', '-q', '-f', 'qcow2', ...over, path, String(virtualSize)];
}

/** `qemu-img info` of one layer. Pure. */
export function infoArgs(layer: ImageLayer): string[] {
  return ['info', '-U', '--output=json', '-f', checkLayer(layer).format, layer.file];
}

/** `qemu-img convert` of a whole chain into one file (qcow2 unless told). Pure. */
export function convertArgs(chain: readonly ImageLayer[], destination: string, format: ImageFormat = 'qcow2'): string[] {
  const top = chain[0];
  if (!top) throw new UnsupportedDisk('an image chain needs at least one layer');
  checkFormat({ file: destination, format });
  return ['convert', '-U', '-p', '-f', top.format, '-O', format, chainSpec(chain), destination];
}

/** `qemu-img rebase -u` of an overlay onto a new backing file. Pure. */
export function rebaseArgs(overlay: ImageLayer, backing: ImageLayer): string[] {
  if (overlay.format !== 'qcow2') throw new UnsupportedDisk(`${overlay.file}: only a qcow2 overlay has a backing file`);
  checkFormat(backing);
  return ['rebase', '-u', '-f', overlay.format, '-b', backing.file, '-F', backing.format, overlay.file];
}

/**
 * The chain as one `json:` filename: each layer's driver and file spelled out, nested
 * through `backing`, and the last qcow2 layer's backing set to null so that no file its
 * header might name is opened. A raw layer has no backing, so it can only be the last.
 * Pure.
 */
export function chainSpec(chain: readonly ImageLayer[]): string {
  let spec: Record<string, unknown> | null = null;
  for (const [i, layer] of [...chain].reverse().entries()) {
    checkLayer(layer);
    if (layer.format === 'raw' && i > 0) throw new UnsupportedDisk(`${layer.file} is raw and cannot have a backing file`);
    spec = {
      driver: layer.format,
      file: { driver: 'file', filename: layer.file },
      ...(layer.format === 'qcow2' ? { backing: spec } : {}),
    };
  }
  if (spec === null) throw new UnsupportedDisk('an image chain needs at least one layer');
  return `json:${JSON.stringify(spec)}`;
}

/** A layer qemu-img may open: an absolute local path (never resolved against our cwd), a known format. */
function checkLayer(layer: ImageLayer): ImageLayer {
  checkFormat(layer);
  if (!isAbsolute(layer.file)) throw new UnsupportedDisk(`image path ${JSON.stringify(layer.file)} is not absolute`);
  return layer;
}

function checkFormat(layer: ImageLayer): void {
  if (!isImageFormat(layer.format)) {
    throw new UnsupportedDisk(`${layer.file}: format ${JSON.stringify(layer.format)} is not one the agent opens (qcow2, raw)`);
  }
}

export interface RunOptions {
  signal?: AbortSignal;
  /** qemu-img's own progress (0–100), read from its `-p` output, when the call has `-p`. */
  onPercent?: (percent: number) => void;
}

async function run(
  args: string[],
  options: RunOptions & { exitCodes?: readonly number[] } = {},
): Promise<{ stdout: string; stderr: string; code: number }> {
  const accepted = options.exitCodes ?? [0];
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
      if (code !== null && accepted.includes(code)) resolve({ stdout, stderr, code });
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
  const { stdout } = await run(infoArgs({ file: path, format: 'qcow2' }));
  const info = JSON.parse(stdout) as { 'format-specific'?: { data?: { bitmaps?: { name?: unknown }[] } } };
  const bitmaps = info['format-specific']?.data?.bitmaps ?? [];
  return bitmaps.map((b) => b.name).filter((name): name is string => typeof name === 'string');
}
