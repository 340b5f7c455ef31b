import { rm } from 'node:fs/promises';
import { measureCommand, type CommandCost } from './measure.js';

/**
 * The tools an operator would use instead of the agent, each made durable with `sync -f`
 * because a backup is only done once it is on disk. The target is removed afterwards.
 */
export async function durableCopy(source: string, target: string): Promise<CommandCost> {
  return durably(['cp', '--sparse=always', source, target], target);
}

/** `qemu-img convert -O qcow2` of a whole chain (its top file); -U because QEMU holds the image. */
export async function durableConvert(top: string, target: string): Promise<CommandCost> {
  return durably(['qemu-img', 'convert', '-U', '-O', 'qcow2', top, target], target);
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
