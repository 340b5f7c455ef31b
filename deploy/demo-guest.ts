/**
 * The demo's guest: the same small TCG guest the integration tests boot (a Debian
 * kernel, busybox and the QEMU guest agent, writing to an ext4 data disk).
 *   node dist/deploy/demo-guest.js up NAME      boot it and wait for its guest agent
 *   node dist/deploy/demo-guest.js write NAME   write 16 MiB into it, print the sha256
 *   node dist/deploy/demo-guest.js down NAME    destroy it and remove its files
 */
import { createTestGuest, destroyTestGuest, guestWriteRandomFile, waitForAgent } from '../test/support/guest.js';

const [command, name = 'virt-dr-demo'] = process.argv.slice(2);
switch (command) {
  case 'up': {
    const guest = await createTestGuest({ name, dataDiskMiB: 1024 });
    const ms = await waitForAgent(name);
    console.log(`guest ${name} (${guest.uuid}) is up; its agent answered after ${(ms / 1000).toFixed(1)} s`);
    break;
  }
  case 'write': {
    const sha = await guestWriteRandomFile(name, '/data/demo.bin', 16 << 20);
    console.log(`the guest wrote 16 MiB to /data/demo.bin, sha256 ${sha}`);
    break;
  }
  case 'down':
    await destroyTestGuest(name);
    console.log(`guest ${name} removed`);
    break;
  default:
    console.error('usage: demo-guest.js up|write|down [NAME]');
    process.exit(2);
}
