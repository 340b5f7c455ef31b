import { rename, rm } from 'node:fs/promises';
import { run, virsh } from '../test/support/guest.js';
import { qemuImgConvertArgv } from './copy-baselines.js';

/**
 * The restores an operator would run by hand instead of the agent's, the baselines of the
 * restore suite: the same point, the same disk path, the same domain. They check nothing
 * (no sha256, no compare) and keep no old disk aside; the old disk is simply replaced.
 */
export interface HandRestoreTarget {
  domain: string;
  /** The domain's disk, replaced in place. */
  disk: string;
  /** The domain's definition to define again (`virsh dumpxml --inactive`, saved before). */
  xmlFile: string;
}

export const HAND_NORMAL =
  '`qemu-img convert -f qcow2 -O qcow2` of the point\'s chain beside the disk, `sync -f`, `virsh destroy`, `mv` over the disk, `virsh define`, `virsh start`';
export const HAND_INSTANT =
  '`qemu-img create -f qcow2 -b <a copy of the point> -F qcow2` beside the disk, `virsh destroy`, `mv` over the disk, `virsh define`, `virsh start`';

/**
 * Normal: flatten the point's chain beside the disk and `sync -f` it, then swap it in and
 * start the domain. Returns when `virsh start` does, with when it began (epoch ms) and
 * how long the convert and its sync took. Timed here, not under measure.ts's Python
 * parent, whose start-up would count towards the time to running.
 */
export async function handNormalRestore(target: HandRestoreTarget, pointFile: string): Promise<{ beganMs: number; convertSeconds: number }> {
  const staged = `${target.disk}.hand-restore`;
  await rm(staged, { force: true });
  const beganMs = Date.now();
  const [tool, ...args] = qemuImgConvertArgv(pointFile, staged);
  await run(tool!, args, { timeoutMs: 600_000 });
  await run('sync', ['-f', staged]);
  const convertSeconds = (Date.now() - beganMs) / 1000;
  await swapAndStart(target, staged);
  return { beganMs, convertSeconds };
}

/**
 * Instant: an overlay over the point, swapped in and started; then `virsh blockpull
 * --wait` copies the point into it while the guest runs, unthrottled as the agent's is.
 * The overlay's backing is `pointCopy`, a copy of the point's (full) file outside the
 * repository: libvirt's DAC driver would chown a backing file for QEMU and never give it
 * back (docs/ARCHITECTURE.md, "Restore pieces"), and the repository is not the baseline's.
 * Returns the start (epoch ms) and the end of the pull.
 */
export async function handInstantRestore(target: HandRestoreTarget, pointCopy: string): Promise<{ beganMs: number; pulledMs: number }> {
  const staged = `${target.disk}.hand-restore`;
  await rm(staged, { force: true });
  const beganMs = Date.now();
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', pointCopy, '-F', 'qcow2', staged]);
  await swapAndStart(target, staged);
  await virsh(['blockpull', target.domain, target.disk, '--wait'], { timeoutMs: 600_000 });
  return { beganMs, pulledMs: Date.now() };
}

async function swapAndStart(target: HandRestoreTarget, staged: string): Promise<void> {
  await virsh(['destroy', target.domain]);
  await rename(staged, target.disk);
  await virsh(['define', target.xmlFile]);
  await virsh(['start', target.domain], { timeoutMs: 120_000 });
}
