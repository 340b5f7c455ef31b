/**
 * A caller of native pullBacking in a process of its own, for tests that kill it mid-pull
 * as a crash of the agent would: QEMU goes on with the job, and a later caller attaches.
 *
 *     node dist/test/support/detached-pull.js URI DOMAIN DISK MIB_PER_S
 *
 * Prints one JSON line per job state it sees, then `{"outcome": …}`.
 */
import { Connection, pullBacking } from '../../native/index.js';

const [uri, domainName, disk, mibps] = process.argv.slice(2);
if (!uri || !domainName || !disk || mibps === undefined) throw new Error('usage: detached-pull URI DOMAIN DISK MIB_PER_S');
const connection = await Connection.open(uri);
const domain = await connection.lookupDomain(domainName);
const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
print({ outcome: await pullBacking(domain, disk, { bandwidthMiBps: Number(mibps), pollMs: 200, onProgress: print }) });
await connection.close();
