import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { isAgentCheckpoint, tidyCheckpoints } from '../../src/backup/checkpoint/tidy.js';
import { HypervisorError } from '../../src/errors.js';
import type { HypervisorDomain } from '../../src/libvirt/hypervisor.js';

const log = pino({ level: 'silent' });
const A = 'virtdr-20261129T010000000Z-aaaaaa';
const B = 'virtdr-20261129T020000000Z-bbbbbb';
const C = 'virtdr-20261129T030000000Z-cccccc';

/** A domain whose checkpoint metadata and bitmaps are plain sets; it records every call. */
function fakeDomain(metadata: string[], bitmaps: string[]) {
  const meta = new Set(metadata);
  const maps = new Set(bitmaps);
  const calls: string[] = [];
  const domain = {
    name: 'vm',
    async checkpoints() {
      return [...meta];
    },
    async redefineCheckpoint(xml: string) {
      const name = /<name>([^<]+)<\/name>/.exec(xml)![1]!;
      calls.push(`redefine ${name}`);
      meta.add(name);
    },
    async deleteCheckpoint(name: string, { metadataOnly }: { metadataOnly: boolean }) {
      calls.push(`${metadataOnly ? 'forget' : 'delete'} ${name}`);
      if (!metadataOnly) {
        if (!maps.has(name)) throw new HypervisorError(`bitmap '${name}' not found`, false, null);
        maps.delete(name);
      }
      meta.delete(name);
    },
  } as unknown as HypervisorDomain;
  return { domain, calls, meta, maps };
}

describe('tidyCheckpoints', () => {
  it("keeps only the newest point's bitmap, leaves no agent metadata, and touches nothing foreign", async () => {
    const { domain, calls, meta, maps } = fakeDomain([A, B, 'operator'], [A, B, C, 'operator', 'other-bitmap']);
    await tidyCheckpoints({ domain, keep: B, suspects: new Map([[C, ['vda']]]), log });
    expect([...meta]).toEqual(['operator']);
    expect([...maps].sort()).toEqual([B, 'operator', 'other-bitmap'].sort());
    expect(calls).toEqual([`delete ${A}`, `redefine ${C}`, `delete ${C}`, `forget ${B}`]);
  });

  it('drops the metadata alone when a bitmap is already gone, and is idempotent', async () => {
    const { domain, meta } = fakeDomain([A], []);
    await tidyCheckpoints({ domain, keep: null, suspects: new Map([[A, ['vda']]]), log });
    expect([...meta]).toEqual([]);
    await tidyCheckpoints({ domain, keep: null, suspects: new Map(), log });
    expect([...meta]).toEqual([]);
  });

  it('never takes a foreign name for its own', () => {
    expect(isAgentCheckpoint(A)).toBe(true);
    for (const name of ['operator', 'virtdr-', 'virtdr-x', `${A}-copy`, `x${A}`]) expect(isAgentCheckpoint(name)).toBe(false);
  });
});
