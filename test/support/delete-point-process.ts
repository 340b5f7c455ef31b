/**
 * Runs deletePoint in its own process and SIGKILLs that process (with its process group,
 * so qemu-img dies too, as systemd kills the agent's cgroup) at one chosen moment of the
 * merge. Run from the built dist/ by the delete integration test:
 *
 *   node dist/test/support/delete-point-process.js REPO HOST DOMAIN_UUID BACKUP_ID MOMENT
 *
 * The moment is found by wrapping node's own fs and child_process functions before the
 * repository code is loaded, so the code under test is exactly the agent's. It prints
 * `KILLED AT <moment>` to stderr just before the kill; exiting normally means the moment
 * never came, which the test treats as a failure.
 */
import childProcess from 'node:child_process';
import fsp from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { basename } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Where to die: each names the step of deletePoint just finished. */
export const KILL_MOMENTS = {
  /** The first merge work file was created: the copy has begun. */
  'copy-started': 'kept',
  /** qemu-img rebase was started on a work file. */
  'rebase-started': 'kept',
  /** The merge manifest's temporary file was created: every disk merged, nothing committed. */
  'commit-writing': 'kept',
  /** manifest.json.virtdr-merge exists: the commit point. */
  committed: 'deleted',
  /** The first merged disk was renamed over its file. */
  'first-disk-renamed': 'deleted',
  /** The child's new manifest is in place; the deleted point is still there. */
  'manifest-renamed': 'deleted',
  /** The deleted point's folder became this host's staging folder. */
  'point-renamed': 'deleted',
} as const;

export type KillMoment = keyof typeof KILL_MOMENTS;

async function main(): Promise<void> {
  const [repoRoot, host, domainUuid, backupId, moment] = process.argv.slice(2);
  if (!repoRoot || !host || !domainUuid || !backupId || !moment || !(moment in KILL_MOMENTS)) {
    throw new Error(`usage: REPO HOST DOMAIN_UUID BACKUP_ID (${Object.keys(KILL_MOMENTS).join('|')})`);
  }
  const die = () => {
    process.stderr.write(`KILLED AT ${moment}\n`);
    process.kill(-process.pid, 'SIGKILL');
  };
  wrapFs(moment as KillMoment, die);

  // Loaded only now, so their imports of fs and child_process see the wrappers.
  const { FileRepository } = await import('../../src/repo/file-repository.js');
  const { deletePoint } = await import('../../src/repo/delete-point.js');
  await deletePoint(new FileRepository(repoRoot, host), domainUuid, backupId);
  process.stderr.write('DELETE FINISHED\n');
}

function wrapFs(moment: KillMoment, die: () => void): void {
  const { open, rename } = fsp;
  const { spawn } = childProcess;
  let diskRenames = 0;
  fsp.open = (async (...args: Parameters<typeof open>) => {
    const handle = await open(...args);
    const name = basename(String(args[0]));
    if (moment === 'copy-started' && name.endsWith('.virtdr-merge')) die();
    if (moment === 'commit-writing' && name.startsWith('.manifest.json.virtdr-merge.')) die();
    return handle;
  }) as typeof open;
  fsp.rename = (async (from: Parameters<typeof rename>[0], to: Parameters<typeof rename>[1]) => {
    await rename(from, to);
    const [source, target] = [basename(String(from)), basename(String(to))];
    if (moment === 'committed' && target === 'manifest.json.virtdr-merge') die();
    if (moment === 'first-disk-renamed' && source.endsWith('.virtdr-merge') && target !== 'manifest.json' && ++diskRenames === 1) die();
    if (moment === 'manifest-renamed' && source === 'manifest.json.virtdr-merge') die();
    if (moment === 'point-renamed' && target.startsWith('.partial-')) die();
  }) as typeof rename;
  childProcess.spawn = ((...args: Parameters<typeof spawn>) => {
    const child = spawn(...args);
    const argv = args[1];
    // Killed once qemu-img reports its first progress: it dies with the group, as under systemd.
    if (moment === 'rebase-started' && Array.isArray(argv) && argv[0] === 'rebase') child.stdout?.once('data', die);
    return child;
  }) as typeof spawn;
  syncBuiltinESMExports();
}

// Only as a script: the test imports KILL_MOMENTS from here.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
