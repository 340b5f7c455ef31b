import { EngineNotAllowed, EngineUnavailable } from '../errors.js';
import type { EngineName } from '../repo/point.js';
import type { EngineChoice } from './request.js';
import type { BackupDisk } from './select-disks.js';

export interface EngineFacts {
  domainName: string;
  /** libvirt and QEMU offer the backup API (push mode, checkpoints). */
  backupApi: boolean;
  /** The domain carries Nova's metadata: Nova rebuilds its XML from its own disk paths. */
  novaInstance: boolean;
  disks: readonly BackupDisk[];
}

/**
 * Which engine backs a domain up. Pure.
 *
 * - `auto`: the checkpoint engine when the backup API is there and every disk can carry
 *   a dirty bitmap (qcow2); on a Nova instance whenever the backup API is there, since its
 *   raw disks then get a checkpoint-less full, which is still safe. Else the snapshot engine.
 * - `snapshot` is refused on a Nova instance: it leaves the domain on an overlay Nova does
 *   not know, and Nova's next hard reboot, stop/start or resize would drop every write
 *   since the backup.
 * - `checkpoint` needs the backup API.
 */
export function chooseEngine(requested: EngineChoice, facts: EngineFacts): EngineName {
  const { domainName, backupApi, novaInstance, disks } = facts;
  if (requested === 'snapshot') {
    if (novaInstance) {
      throw new EngineNotAllowed(
        `domain ${domainName} is a Nova instance: the snapshot engine would leave it running on an overlay Nova does not know, ` +
          `and Nova's next restart would lose every write since the backup; use engine=checkpoint or auto`,
      );
    }
    return 'snapshot';
  }
  if (requested === 'checkpoint') {
    if (!backupApi) throw new EngineUnavailable(`this host's libvirt/QEMU offers no backup API; engine=checkpoint cannot run`);
    return 'checkpoint';
  }
  if (backupApi && (novaInstance || disks.every((d) => d.format === 'qcow2'))) return 'checkpoint';
  if (novaInstance) {
    throw new EngineUnavailable(
      `domain ${domainName} is a Nova instance and this host offers no backup API: no engine can back it up without leaving it on an agent overlay`,
    );
  }
  return 'snapshot';
}
