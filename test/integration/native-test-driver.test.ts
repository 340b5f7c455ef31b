/**
 * native/ against libvirt's in-process test driver (test:///default): always available,
 * no daemon needed. The default test driver state is shared by every connection of the
 * process, so domains defined here are named uniquely.
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Connection,
  Domain,
  isConnectionLost,
  LibvirtError,
  VIR_ERR_INTERNAL_ERROR,
  VIR_ERR_INVALID_CONN,
  VIR_ERR_NO_DOMAIN,
  VIR_ERR_OPERATION_INVALID,
  VIR_FROM_TEST,
} from '../../native/index.js';
import { rejection } from '../support/libvirt-rejection.js';

const execFileP = promisify(execFile);
const URI = 'test:///default';
const ROOT = path.resolve(import.meta.dirname, '../..');

function testDomainXml(name: string): string {
  return `<domain type='test'>
  <name>${name}</name>
  <memory unit='MiB'>64</memory>
  <os><type arch='x86_64'>hvm</type></os>
</domain>`;
}

describe('native adapter on test:///default', () => {
  let conn: Connection;

  beforeAll(async () => {
    conn = await Connection.open(URI);
  });
  afterAll(async () => {
    await conn?.close();
  });

  it('reports the library version', async () => {
    expect(await conn.libvirtVersion()).toMatch(/^\d+\.\d+\.\d+$/);
    expect(await conn.isAlive()).toBe(true);
  });

  it('looks a domain up by name and by UUID', async () => {
    const byName = await conn.lookupDomain('test');
    expect(byName).toBeInstanceOf(Domain);
    expect(byName.name).toBe('test');
    expect(byName.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);

    const byUuid = await conn.lookupDomain(byName.uuid);
    expect(byUuid.name).toBe('test');
    expect(byUuid.uuid).toBe(byName.uuid);
    // libvirt also parses UUIDs without dashes
    const compact = await conn.lookupDomain(byName.uuid.replace(/-/g, '').toUpperCase());
    expect(compact.uuid).toBe(byName.uuid);
  });

  it('rejects a missing domain with LibvirtError code 42 and libvirt’s message', async () => {
    const err = await rejection(conn.lookupDomain('no-such-domain-xyz'));
    expect(err.code).toBe(VIR_ERR_NO_DOMAIN);
    expect(err.domain).toBe(VIR_FROM_TEST);
    expect(err.libvirtMessage).toMatch(/Domain not found/);
    expect(err.message).toBe(err.libvirtMessage);
    expect(err.operation).toBe('virDomainLookupByName');
    expect(isConnectionLost(err)).toBe(false);

    const err2 = await rejection(conn.lookupDomain('00000000-1111-2222-3333-444444444444'));
    expect(err2.code).toBe(VIR_ERR_NO_DOMAIN);
    // the connection is still usable and carries no stale error
    expect((await conn.lookupDomain('test')).name).toBe('test');
  });

  it('returns the domain XML and state', async () => {
    const dom = await conn.lookupDomain('test');
    const xml = await dom.getXml();
    expect(xml).toContain('<name>test</name>');
    expect(xml).toContain(`<uuid>${dom.uuid}</uuid>`);
    expect(await dom.getXml({ inactive: true })).toContain('<name>test</name>');
    const st = await dom.getState();
    expect(st.state).toBe('running');
    expect(typeof st.reason).toBe('number');
    expect(await dom.isActive()).toBe(true);
  });

  it('lists domains', async () => {
    const all = await conn.listAllDomains();
    expect(all.map((d) => d.name)).toContain('test');
  });

  it('defines, starts, suspends, resumes, freezes, destroys and undefines a domain', async () => {
    const name = `vdr-native-test-td-${process.pid}`;
    const dom = await conn.defineDomain(testDomainXml(name));
    expect(dom.name).toBe(name);
    try {
      expect((await dom.getState()).state).toBe('shutoff');
      // a stopped domain cannot be frozen: typed error, not a hang
      const notRunning = await rejection(dom.fsFreeze(5));
      expect(notRunning.code).toBe(VIR_ERR_OPERATION_INVALID);

      await dom.create();
      expect((await dom.getState()).state).toBe('running');
      await dom.suspend();
      expect((await dom.getState()).state).toBe('paused');
      await dom.resume();
      expect((await dom.getState()).state).toBe('running');

      // The test driver fakes a guest agent with two filesystems (it does not implement
      // virDomainAgentSetResponseTimeout; fsFreeze tolerates that).
      expect(await dom.fsFreeze(5)).toBe(2);
      expect(await dom.fsThaw(5)).toBe(2);
      await expect(dom.fsFreeze(0)).rejects.toBeInstanceOf(RangeError);

      await dom.destroy();
      expect((await dom.getState()).state).toBe('shutoff');
    } finally {
      await dom.undefine(); // test driver rejects NVRAM/CHECKPOINTS flags; undefine falls back
    }
    const gone = await rejection(conn.lookupDomain(name));
    expect(gone.code).toBe(VIR_ERR_NO_DOMAIN);
    const stale = await rejection(dom.getState());
    expect(stale.code).toBe(VIR_ERR_NO_DOMAIN);
  });

  it('does not mix up errors between connections used in parallel', async () => {
    const conns = await Promise.all(Array.from({ length: 12 }, () => Connection.open(URI)));
    try {
      const results = await Promise.all(
        conns.map(async (c, i) => {
          const outcomes: string[] = [];
          for (let round = 0; round < 15; round++) {
            switch ((i + round) % 3) {
              case 0: {
                const err = await rejection(c.lookupDomain(`missing-${i}-${round}`));
                outcomes.push(err.code === VIR_ERR_NO_DOMAIN ? 'ok' : `bad 0: ${err.code} ${err.message}`);
                break;
              }
              case 1: {
                // already running: the test driver refuses with an internal error
                const dom = await c.lookupDomain('test');
                const err = await rejection(dom.create());
                outcomes.push(
                  err.code === VIR_ERR_INTERNAL_ERROR && /already running/.test(err.message) ? 'ok' : `bad 1: ${err.code} ${err.message}`,
                );
                break;
              }
              default: {
                const dom = await c.lookupDomain('test');
                const xml = await dom.getXml();
                outcomes.push(xml.includes('<name>test</name>') ? 'ok' : 'bad 2');
              }
            }
          }
          return outcomes;
        }),
      );
      expect(results.flat().filter((o) => o !== 'ok')).toEqual([]);
    } finally {
      await Promise.all(conns.map((c) => c.close()));
    }
  });

  it('serializes calls on one connection without losing errors', async () => {
    const dom = await conn.lookupDomain('test');
    const calls = Array.from({ length: 30 }, (_, i) =>
      i % 2 === 0
        ? conn.lookupDomain(`missing-${i}`).then(
            () => 'unexpected success',
            (e: LibvirtError) => `code ${e.code}`,
          )
        : dom.getState().then((s) => s.state),
    );
    const out = await Promise.all(calls);
    out.forEach((o, i) => expect(o).toBe(i % 2 === 0 ? 'code 42' : 'running'));
  });

  it('fails to open a bad URI with a typed error', async () => {
    const err = await rejection(Connection.open('qemu+unix:///system?socket=/nonexistent/vdr-native.sock'));
    expect(err.operation).toBe('virConnectOpen');
    expect(err.libvirtMessage).toMatch(/nonexistent/);
    expect(isConnectionLost(err)).toBe(true);
  });

  it('rejects calls after close', async () => {
    const c = await Connection.open(URI);
    await c.close();
    await c.close(); // idempotent
    const err = await rejection(c.libvirtVersion());
    expect(err.code).toBe(VIR_ERR_INVALID_CONN);
    expect(isConnectionLost(err)).toBe(false);
    expect(await c.isAlive()).toBe(false);
  });

  describe('stderr', () => {
    const work = path.join(ROOT, '.test-work', `native-stderr-${process.pid}`);

    beforeAll(async () => {
      // Transpile native/ to plain ESM next to the repo (so node_modules resolves) and
      // run it in a child: libvirt writes to fd 2 directly, which only a separate
      // process lets us capture.
      await mkdir(path.join(work, 'native'), { recursive: true });
      for (const f of await readdir(path.join(ROOT, 'native'))) {
        if (!f.endsWith('.ts')) continue;
        const src = await readFile(path.join(ROOT, 'native', f), 'utf8');
        const out = ts.transpileModule(src, {
          compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
        });
        await writeFile(path.join(work, 'native', f.replace(/\.ts$/, '.js')), out.outputText);
      }
      await writeFile(path.join(work, 'package.json'), '{"type":"module"}');
    });
    afterAll(async () => {
      await rm(work, { recursive: true, force: true });
    });

    it('prints no "libvirt: ... error" on stderr (and would without the handler)', async () => {
      const script = `
        import { Connection } from './native/index.js';
        const c = await Connection.open('test:///default');
        await c.lookupDomain('nope').catch(() => {});
        const d = await c.lookupDomain('test');
        await d.create().catch(() => {});
        await Connection.open('qemu+unix:///system?socket=/nonexistent/x.sock').catch(() => {});
        await c.close();
        console.log('done');
      `;
      await writeFile(path.join(work, 'quiet.mjs'), script);
      const quiet = await execFileP(process.execPath, [path.join(work, 'quiet.mjs')], { cwd: work });
      expect(quiet.stdout.trim()).toBe('done');
      expect(quiet.stderr).not.toMatch(/libvirt:/);

      // Control: the same failure without our handler does print, so the check above means something.
      const control = `
        import ffi from '@2060.io/ffi-napi';
        const lv = ffi.Library('libvirt.so.0', {
          virConnectOpen: ['pointer', ['string']],
          virDomainLookupByName: ['pointer', ['pointer', 'string']],
        });
        lv.virDomainLookupByName(lv.virConnectOpen('test:///default'), 'nope');
      `;
      await writeFile(path.join(work, 'control.mjs'), control);
      const noisy = await execFileP(process.execPath, [path.join(work, 'control.mjs')], { cwd: work });
      expect(noisy.stderr).toMatch(/libvirt: .*error/);
    });
  });
});
