/**
 * The backing file a qcow2 image's header names, read from its bytes. On the file target
 * `qemu-img info` answers this; on an SSH target there is no qemu-img to ask (nor should
 * the agent run one there), so the few header fields are read over SFTP and decoded here
 * (docs/interop/qcow2.txt in QEMU: magic, version, backing_file_offset, backing_file_size).
 */

/** Bytes of the header this needs: magic, version, backing_file_offset (u64), backing_file_size (u32). */
export const QCOW2_HEADER_BYTES = 20;
/** QEMU refuses longer backing file names. */
const MAX_BACKING_NAME = 1023;
const MAGIC = 0x514649fb;

/** Where the backing file name is, or null for no backing file (or not a qcow2 image). */
export function backingNameLocation(header: Buffer): { offset: number; length: number } | null {
  if (header.length < QCOW2_HEADER_BYTES || header.readUInt32BE(0) !== MAGIC) return null;
  const offset = Number(header.readBigUInt64BE(8));
  const length = header.readUInt32BE(16);
  if (offset === 0 || length === 0 || length > MAX_BACKING_NAME || !Number.isSafeInteger(offset)) return null;
  return { offset, length };
}

/** Reads an image's backing file name through `readAt` (offset, length → bytes), or null. */
export async function qcow2BackingFile(readAt: (offset: number, length: number) => Promise<Buffer>): Promise<string | null> {
  const location = backingNameLocation(await readAt(0, QCOW2_HEADER_BYTES));
  if (!location) return null;
  const name = await readAt(location.offset, location.length);
  return name.length === location.length ? name.toString('utf8') : null;
}
