import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { letQemuReach } from '../repo/qemu-access.js';
import { entryKind } from '../util/no-follow-fs.js';
import type { RestorePlan } from './plan.js';

/**
 * Makes the folders the restored disks go into when they are missing: a new domain's own
 * folder, or a lost domain's (the host was rebuilt). They are root's and 0750, with search
 * access for the user QEMU runs as, so QEMU alone can open the disks libvirt labels for it.
 */
export async function prepareFolders(plan: RestorePlan, qemuUid: number | null): Promise<void> {
  for (const dir of new Set(plan.disks.map((d) => dirname(d.final)))) {
    if ((await entryKind(dir)) === 'directory') continue;
    await mkdir(dir, { recursive: true, mode: 0o750 });
    await letQemuReach(dir, qemuUid);
  }
}
