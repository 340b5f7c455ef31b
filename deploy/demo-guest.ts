/**
 * The demo's guest: the same small TCG guest the integration tests boot (a Debian
 * kernel, busybox and the QEMU guest agent, writing to an ext4 data disk).
 *   node dist/deploy/demo-guest.js up NAME      boot it and wait for its guest agent
 *   node dist/deploy/demo-guest.js write NAME   write 16 MiB into it, print the sha256
 *   node dist/deploy/demo-guest.js restart NAME restart it as Nova does, then print that sha256 again
 *   node dist/deploy/demo-guest.js down NAME    destroy it and remove its files
 * It carries Nova's instance metadata, as every domain on a compute host does.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  createTestGuest,
  defaultWorkDir,
  destroyTestGuest,
  guestSha256,
  guestWriteRandomFile,
  novaStyleRestart,
  waitForAgent,
} from '../test/support/guest.js';

const [command, name = 'virt-dr-demo'] = process.argv.slice(2);
switch (command) {
  case 'up': {
    const guest = await createTestGuest({ name, dataDiskMiB: 1024, nova: true });
    const ms = await waitForAgent(name);
    console.log(`guest ${name} (${guest.uuid}) is up; its agent answered after ${(ms / 1000).toFixed(1)} s`);
    break;
  }
  case 'write': {
    const sha = await guestWriteRandomFile(name, '/data/demo.bin', 16 << 20);
    console.log(`the guest wrote 16 MiB to /data/demo.bin, sha256 ${sha}`);
    break;
  }
  case 'restart': {
    const workDir = defaultWorkDir(name);
    await novaStyleRestart({ name, workDir, xml: await readFile(path.join(workDir, 'domain.xml'), 'utf8') });
    await waitForAgent(name);
    console.log(`destroyed, undefined (no flags), defined from Nova's XML and started; /data/demo.bin: sha256 ${await guestSha256(name, '/data/demo.bin')}`);
    break;
  }
  case 'down':
    await destroyTestGuest(name);
    console.log(`guest ${name} removed`);
    break;
  default:
    console.error('usage: demo-guest.js up|write|restart|down [NAME]');
    process.exit(2);
}
