import { lstat, mkdir, mkdtemp, readdir, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidArgument, PolicyCorrupt } from '../../src/errors.js';
import { createRootLogger } from '../../src/log.js';
import type { PolicyLayer } from '../../src/policy/parse-policy.js';
import { PolicyStore } from '../../src/policy/policy-store.js';
import { TEST_PARSE_CONTEXT } from '../support/policy-fixtures.js';

const DOMAIN = '6f1d7c2e-4a3b-4c5d-8e9f-0a1b2c3d4e5f';
const PROJECT = '0a1b2c3d4e5f40718293a4b5c6d7e8f9';
const LAYER: PolicyLayer = { schedule: { interval_s: 60 }, tiers: { fast: { capacity: { count: 4 } } }, plan: { secondaries: [{ target: 'dr', delay_s: 60 }] } };

async function storeIn() {
  const state = await mkdtemp(join(tmpdir(), 'vdr-policy-store-'));
  const lines: string[] = [];
  const log = createRootLogger('debug', { write: (line: string) => void lines.push(line) });
  return { state, lines, store: new PolicyStore(state, TEST_PARSE_CONTEXT, log) };
}

describe('the policy store', () => {
  it('keeps a domain\'s and a project\'s layer in files of their own, mode 0600', async () => {
    const { state, store } = await storeIn();
    await store.save({ domain: DOMAIN.toUpperCase() }, LAYER);
    await store.save({ project: PROJECT }, { retention: { max_count: 7 } });
    expect(await store.load({ domain: DOMAIN })).toEqual(LAYER);
    expect(await store.load({ project: PROJECT })).toEqual({ retention: { max_count: 7 } });
    expect(await store.load({ project: 'other' })).toBeNull();
    const domainFile = join(state, 'policies', 'domains', `${DOMAIN}.json`);
    expect((await lstat(domainFile)).mode & 0o777).toBe(0o600);
    expect((await lstat(join(state, 'policies', 'projects', `${PROJECT}.json`))).mode & 0o777).toBe(0o600);
  });

  it('removes a layer set to nothing', async () => {
    const { state, store } = await storeIn();
    await store.save({ project: PROJECT }, LAYER);
    await store.save({ project: PROJECT }, {});
    expect(await store.load({ project: PROJECT })).toBeNull();
    expect(await readdir(join(state, 'policies', 'projects'))).toEqual([]);
    await store.save({ domain: DOMAIN }, {}); // nothing to remove: no error
  });

  it('refuses a project id that is not one, before it names a file', async () => {
    const { state, store } = await storeIn();
    for (const project of ['../x', 'a/b', '', '.', '..', 'x'.repeat(65), 'p\u0000', 'p q', 'ü']) {
      await expect(store.save({ project }, LAYER), JSON.stringify(project)).rejects.toThrow(InvalidArgument);
      await expect(store.load({ project }), JSON.stringify(project)).rejects.toThrow(InvalidArgument);
    }
    await expect(store.save({ domain: '../../etc' }, LAYER)).rejects.toThrow(InvalidArgument);
    expect(await readdir(state)).toEqual([]);
  });

  it('refuses and logs a damaged file, naming it, and stays usable', async () => {
    const { state, store, lines } = await storeIn();
    const projects = join(state, 'policies', 'projects');
    await mkdir(projects, { recursive: true });
    await writeFile(join(projects, 'torn.json'), '{"schedule": {"interval_');
    await writeFile(join(projects, 'bad.json'), JSON.stringify({ schedule: { interval_s: 1 }, colour: 'red' }));
    await writeFile(join(projects, 'gone.json'), JSON.stringify({ plan: { primary: 'nas-removed' } }));
    await symlink('/etc/passwd', join(projects, 'link.json'));

    const torn = store.load({ project: 'torn' });
    await expect(torn).rejects.toThrow(PolicyCorrupt);
    await expect(torn).rejects.toThrow(new RegExp(`^policy file ${join(projects, 'torn\\.json')} is not JSON \\(.+\\); set_policy replaces it$`));
    await expect(store.load({ project: 'bad' })).rejects.toThrow(
      `policy file ${join(projects, 'bad.json')} has 2 problems: unknown key "colour" (known: schedule,`,
    );
    await expect(store.load({ project: 'gone' })).rejects.toThrow('plan.primary "nas-removed" is not a configured target');
    await expect(store.load({ project: 'link' })).rejects.toThrow(PolicyCorrupt);
    const refused = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'stored policy refused');
    expect(refused.map((l) => l.project)).toEqual(['torn', 'bad', 'gone', 'link']);
    expect(refused[0].level).toBe(50);

    await store.save({ project: 'torn' }, LAYER);
    expect(await store.load({ project: 'torn' })).toEqual(LAYER);
  });
});
