/**
 * The SSH target's pure parts: the URL it accepts, the token bucket's arithmetic on a
 * fake clock, the qcow2 header fields it reads a backing file name from, and the quoting
 * of the one path it hands to a remote shell.
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgument } from '../../src/errors.js';
import { backingNameLocation, qcow2BackingFile } from '../../src/repo/ssh/qcow2-backing.js';
import { shellQuoted } from '../../src/repo/ssh/remote-hash.js';
import { parseSshUrl, sshLocation } from '../../src/repo/ssh/ssh-url.js';
import { TokenBucket } from '../../src/repo/throttle.js';

describe('parseSshUrl', () => {
  it('reads user, host, port (22 by default) and the absolute root', () => {
    expect(parseSshUrl('ssh://dr@dr.example.org/srv/virt-dr')).toEqual({ user: 'dr', host: 'dr.example.org', port: 22, path: '/srv/virt-dr' });
    expect(parseSshUrl('ssh://virt_dr@10.0.0.5:2222/srv/repo/')).toEqual({ user: 'virt_dr', host: '10.0.0.5', port: 2222, path: '/srv/repo' });
    expect(parseSshUrl('ssh://dr@[::1]:2200/a/b.c_d+e-f')).toEqual({ user: 'dr', host: '::1', port: 2200, path: '/a/b.c_d+e-f' });
  });

  it('shows the location with the port and brackets, and nothing else', () => {
    expect(sshLocation(parseSshUrl('ssh://dr@[fe80::1]/srv/repo/'))).toBe('ssh://dr@[fe80::1]:22/srv/repo');
    expect(sshLocation(parseSshUrl('ssh://dr@dr.example.org:2222/srv'))).toBe('ssh://dr@dr.example.org:2222/srv');
  });

  it.each([
    ['file:///srv/repo', /not an ssh:\/\/ URL/],
    ['ssh://dr.example.org/srv', /no user name/],
    ['ssh://dr:s3cret@dr.example.org/srv', /password/],
    ['ssh://dr@dr.example.org', /no root path/],
    ['ssh://dr@dr.example.org/', /root path is \//],
    ['ssh://dr@dr.example.org:0/srv', /port/],
    ['ssh://dr@dr.example.org:65536/srv', /port/],
    ['ssh://dr@dr.example.org:22x/srv', /does not parse/],
    ['ssh://dr@dr.example.org/srv/../etc', /root path/],
    ['ssh://dr@dr.example.org/srv/./x', /root path/],
    ['ssh://dr@dr.example.org/srv//x', /root path/],
    ["ssh://dr@dr.example.org/srv/it's", /root path/],
    ['ssh://dr@dr.example.org/srv/a b', /root path/],
    ['ssh://dr@dr.example.org/srv/%2e%2e', /root path/],
    ['ssh://dr@dr.example.org/srv?x=1', /does not parse/],
    ['ssh://dr@dr.example.org/srv#frag', /does not parse/],
    ['ssh://dr@-bad.example.org/srv', /host/],
    ['ssh://dr@[not-v6]/srv', /host/],
    ['ssh://-dr@dr.example.org/srv', /user name/],
    ['ssh://d;r@dr.example.org/srv', /user name/],
  ])('refuses %s', (url, why) => {
    let error: unknown;
    try {
      parseSshUrl(url);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InvalidArgument);
    expect((error as Error).message).toMatch(why);
    expect((error as Error).message).not.toContain('s3cret');
  });
});

describe('TokenBucket', () => {
  it('lets a burst through, then paces reservations at the rate, in the order they asked', () => {
    let now = 0;
    const bucket = new TokenBucket(1000, 100, () => now);
    expect(bucket.reserve(100)).toBe(0);
    // Two transfers asking at the same moment share the rate: the second waits for the first.
    expect(bucket.reserve(100)).toBe(100);
    expect(bucket.reserve(100)).toBe(200);
    now = 200;
    expect(bucket.reserve(50)).toBe(50);
  });

  it('refills while idle, but never beyond its burst', () => {
    let now = 0;
    const bucket = new TokenBucket(1000, 100, () => now);
    bucket.reserve(100);
    now = 10_000;
    expect(bucket.reserve(100)).toBe(0);
    expect(bucket.reserve(1)).toBeCloseTo(1);
  });

  it('averages the rate over a long run whatever the chunk sizes', () => {
    let now = 0;
    const bucket = new TokenBucket(50_000_000, 2_500_000, () => now);
    let sent = 0;
    for (let i = 0; i < 3000; i += 1) {
      const chunk = 65_536 + (i % 7) * 1000;
      now += bucket.reserve(chunk);
      sent += chunk;
    }
    expect(sent / (now / 1000)).toBeGreaterThan(50_000_000);
    expect((sent - 2_500_000) / (now / 1000)).toBeCloseTo(50_000_000, -4);
  });

  it('refuses a rate or burst that is not positive', () => {
    expect(() => new TokenBucket(0, 100)).toThrow(RangeError);
    expect(() => new TokenBucket(100, 0)).toThrow(RangeError);
  });
});

describe('qcow2 backing file name', () => {
  /** A qcow2 v3 header naming `name` at offset 0x200 (as qemu-img writes it, after the extensions). */
  function image(name: string | null): Buffer {
    const buffer = Buffer.alloc(0x400);
    buffer.writeUInt32BE(0x514649fb, 0);
    buffer.writeUInt32BE(3, 4);
    if (name !== null) {
      buffer.writeBigUInt64BE(0x200n, 8);
      buffer.writeUInt32BE(Buffer.byteLength(name), 16);
      buffer.write(name, 0x200);
    }
    return buffer;
  }
  const readerOf = (bytes: Buffer) => async (offset: number, length: number) => bytes.subarray(offset, offset + length);

  it('reads the name the header points to', async () => {
    expect(await qcow2BackingFile(readerOf(image('../20260101T000000001Z-abcdef/vda.qcow2')))).toBe('../20260101T000000001Z-abcdef/vda.qcow2');
  });

  it('is null for no backing file, a raw image, a short file and an oversized name', async () => {
    expect(await qcow2BackingFile(readerOf(image(null)))).toBeNull();
    expect(await qcow2BackingFile(readerOf(Buffer.from('raw data, no magic at all')))).toBeNull();
    expect(await qcow2BackingFile(readerOf(Buffer.from([0x51, 0x46, 0x49])))).toBeNull();
    const oversized = image('x');
    oversized.writeUInt32BE(4096, 16);
    expect(backingNameLocation(oversized)).toBeNull();
    const truncated = image('../a/vda.qcow2').subarray(0, 0x205);
    expect(await qcow2BackingFile(readerOf(truncated))).toBeNull();
  });
});

describe('shellQuoted', () => {
  it('makes one shell word of anything', () => {
    expect(shellQuoted('/srv/repo/a b')).toBe("'/srv/repo/a b'");
    expect(shellQuoted("it's $(x) `y` \\")).toBe(`'it'\\''s $(x) \`y\` \\'`);
  });
});
