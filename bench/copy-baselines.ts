import { rm } from 'node:fs/promises';
import { measureCommand, type CommandCost } from './measure.js';

/** How the reports name durableCopy. */
export const DURABLE_CP = '`cp --sparse=always`, then `sync -f`';

/**
 * The tools an operator would use instead of the agent, each made durable with `sync -f`
 * because a backup is only done once it is on disk. The target is removed afterwards.
 */
export async function durableCopy(source: string, target: string): Promise<CommandCost> {
  return durably(['cp', '--sparse=always', source, target], target);
}

/** `qemu-img convert` of a whole chain (its top file), durably. */
export async function durableConvert(top: string, target: string): Promise<CommandCost> {
  return durably(qemuImgConvertArgv(top, target), target);
}

/**
 * `qemu-img convert -f qcow2 -O qcow2` of a chain's top file (the layers below are named,
 * with their formats, in the headers); -U because QEMU may hold the image.
 */
export function qemuImgConvertArgv(top: string, target: string): string[] {
  return ['qemu-img', 'convert', '-U', '-f', 'qcow2', '-O', 'qcow2', top, target];
}

async function durably(argv: string[], target: string): Promise<CommandCost> {
  await rm(target, { force: true });
  try {
    const tool = await measureCommand(argv);
    const flush = await measureCommand(['sync', '-f', target]);
    return {
      seconds: tool.seconds + flush.seconds,
      cpuSeconds: tool.cpuSeconds + flush.cpuSeconds,
      peakRssKiB: Math.max(tool.peakRssKiB, flush.peakRssKiB),
    };
  } finally {
    await rm(target, { force: true });
  }
}
