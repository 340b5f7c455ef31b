/**
 * Pure logic of native/errors.ts: classification and decoding of a virError struct
 * laid out by hand (no libvirt call is made).
 */
import ref from '@2060.io/ref-napi';
import { describe, expect, it } from 'vitest';
import {
  isAgentUnavailable,
  isConnectionLost,
  isNoDomain,
  isUnsupported,
  LibvirtError,
  looksLikeUuid,
  VIR_ERR_AGENT_UNRESPONSIVE,
  VIR_ERR_AGENT_UNSYNCED,
  VIR_ERR_ARGUMENT_UNSUPPORTED,
  VIR_ERR_AUTH_FAILED,
  VIR_ERR_INTERNAL_ERROR,
  VIR_ERR_INVALID_CONN,
  VIR_ERR_NO_CONNECT,
  VIR_ERR_NO_DOMAIN,
  VIR_ERR_OPERATION_INVALID,
  VIR_ERR_OPERATION_TIMEOUT,
  VIR_ERR_OPERATION_UNSUPPORTED,
  VIR_ERR_RPC,
  VIR_ERR_SYSTEM_ERROR,
  VIR_FROM_NONE,
  VIR_FROM_QEMU,
  VIR_FROM_REMOTE,
  VIR_FROM_RPC,
} from '../../native/index.js';
import { readVirError } from '../../native/errors.js';

const err = (code: number, domain: number, message = 'x') =>
  new LibvirtError({ code, domain, message, operation: 'virTest' });

describe('libvirt error numbers', () => {
  it('match libvirt 9.0 virterror.h', () => {
    expect(VIR_ERR_INTERNAL_ERROR).toBe(1);
    expect(VIR_ERR_NO_CONNECT).toBe(5);
    expect(VIR_ERR_SYSTEM_ERROR).toBe(38);
    expect(VIR_ERR_RPC).toBe(39);
    expect(VIR_ERR_NO_DOMAIN).toBe(42);
    expect(VIR_ERR_OPERATION_INVALID).toBe(55);
    expect(VIR_ERR_OPERATION_TIMEOUT).toBe(68);
    expect(VIR_ERR_ARGUMENT_UNSUPPORTED).toBe(74);
    expect(VIR_ERR_OPERATION_UNSUPPORTED).toBe(84);
    expect(VIR_ERR_AGENT_UNRESPONSIVE).toBe(86);
    expect(VIR_ERR_AGENT_UNSYNCED).toBe(97);
    expect(VIR_FROM_RPC).toBe(7);
  });
});

describe('LibvirtError', () => {
  it('carries code, domain, libvirt message and operation', () => {
    const e = err(VIR_ERR_NO_DOMAIN, VIR_FROM_QEMU, "Domain not found: no domain with matching name 'x'");
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('LibvirtError');
    expect(e.code).toBe(42);
    expect(e.domain).toBe(10);
    expect(e.message).toBe(e.libvirtMessage);
    expect(e.operation).toBe('virTest');
    expect(JSON.parse(JSON.stringify(e))).toMatchObject({ class: 'LibvirtError', code: 42, domain: 10 });
    expect(isNoDomain(e)).toBe(true);
    expect(isNoDomain(new Error('x'))).toBe(false);
  });

  it('classifies agent and unsupported errors', () => {
    expect(isAgentUnavailable(err(VIR_ERR_AGENT_UNRESPONSIVE, VIR_FROM_QEMU))).toBe(true);
    expect(isAgentUnavailable(err(VIR_ERR_AGENT_UNSYNCED, VIR_FROM_QEMU))).toBe(true);
    expect(isAgentUnavailable(err(VIR_ERR_OPERATION_INVALID, VIR_FROM_QEMU))).toBe(false);
    expect(isUnsupported(err(VIR_ERR_ARGUMENT_UNSUPPORTED, VIR_FROM_QEMU))).toBe(true);
    expect(isUnsupported(err(VIR_ERR_OPERATION_UNSUPPORTED, VIR_FROM_QEMU))).toBe(true);
  });
});

describe('isConnectionLost', () => {
  it.each([
    ['broken pipe on the first call after a restart', err(VIR_ERR_SYSTEM_ERROR, VIR_FROM_RPC, 'Cannot write data: Broken pipe')],
    ['EOF', err(VIR_ERR_SYSTEM_ERROR, VIR_FROM_RPC, 'End of file while reading data: Input/output error')],
    ['closed socket on later calls', err(VIR_ERR_INTERNAL_ERROR, VIR_FROM_RPC, 'internal error: client socket is closed')],
    ['RPC errors', err(VIR_ERR_RPC, VIR_FROM_RPC)],
    ['no connect', err(VIR_ERR_NO_CONNECT, VIR_FROM_NONE)],
    ['system error from the remote driver', err(VIR_ERR_SYSTEM_ERROR, VIR_FROM_REMOTE)],
    ['closed socket reported elsewhere', err(VIR_ERR_INTERNAL_ERROR, VIR_FROM_REMOTE, 'client socket is closed')],
  ])('true for %s', (_label, e) => {
    expect(isConnectionLost(e)).toBe(true);
  });

  it.each([
    ['a missing domain', err(VIR_ERR_NO_DOMAIN, VIR_FROM_QEMU)],
    ['an agent timeout', err(VIR_ERR_AGENT_UNRESPONSIVE, VIR_FROM_QEMU)],
    ['a system error inside the QEMU driver', err(VIR_ERR_SYSTEM_ERROR, VIR_FROM_QEMU, 'cannot open file')],
    ['an authentication failure', err(VIR_ERR_AUTH_FAILED, VIR_FROM_RPC)],
    ['a connection closed by the caller', err(VIR_ERR_INVALID_CONN, VIR_FROM_NONE)],
    ['a plain Error', new Error('client socket is closed')],
  ])('false for %s', (_label, e) => {
    expect(isConnectionLost(e)).toBe(false);
  });
});

describe('readVirError', () => {
  function fakeVirError(code: number, domain: number, message: string | null, level = 2): Buffer {
    const buf = Buffer.alloc(80); // sizeof(virError) on x86_64
    buf.writeInt32LE(code, 0);
    buf.writeInt32LE(domain, 4);
    const msg = message === null ? ref.NULL : ref.allocCString(message);
    ref.writePointer(buf, 8, msg);
    buf.writeInt32LE(level, 16);
    return buf;
  }

  it('decodes code, domain, message and level at their LP64 offsets', () => {
    const e = readVirError(fakeVirError(42, 10, 'Domain not found'), 'virDomainLookupByName');
    expect(e).toBeInstanceOf(LibvirtError);
    expect(e?.code).toBe(42);
    expect(e?.domain).toBe(10);
    expect(e?.libvirtMessage).toBe('Domain not found');
    expect(e?.level).toBe(2);
    expect(e?.operation).toBe('virDomainLookupByName');
  });

  it('returns null for no error and survives a NULL message', () => {
    expect(readVirError(ref.NULL, 'x')).toBeNull();
    expect(readVirError(fakeVirError(0, 0, null), 'x')).toBeNull();
    expect(readVirError(fakeVirError(1, 7, null), 'x')?.message).toBe('libvirt error 1');
  });
});

describe('looksLikeUuid', () => {
  it('accepts dashed and compact UUIDs only', () => {
    expect(looksLikeUuid('6695eb01-f6a4-8304-79aa-97f2502e193f')).toBe(true);
    expect(looksLikeUuid('6695EB01F6A4830479AA97F2502E193F')).toBe(true);
    expect(looksLikeUuid('instance-0000002a')).toBe(false);
    expect(looksLikeUuid('6695eb01-f6a4-8304-79aa-97f2502e193')).toBe(false);
  });
});
