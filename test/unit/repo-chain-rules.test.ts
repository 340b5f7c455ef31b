/**
 * The pure rules of verify and delete: what a disk's header must name, what a merged
 * child's manifest says, which chains stay inside the repository, and how a point's
 * verdict follows its ancestors' (loops and untrusted parents included).
 */
import { describe, expect, it } from 'vitest';
import { resolveChains, type OwnVerdict } from '../../src/repo/chain-verdicts.js';
import { backingProblem, chainProblem, childrenOf, mergedManifest } from '../../src/repo/point-chain.js';
import type { Manifest, PointDisk } from '../../src/repo/point.js';

const UUID = '5e1f0000-0000-4000-8000-000000000001';
const id = (n: number) => `20260301T000000${String(n).padStart(3, '0')}Z-c0ffee`;
const disk = (target: string, format: 'qcow2' | 'raw' = 'qcow2', size = 100): PointDisk => ({
  target,
  file: `${target}.${format}`,
  format,
  virtual_size: 1 << 20,
  size,
  sha256: 'a'.repeat(64),
});

function point(n: number, parent: number | null, disks: PointDisk[] = [disk('vda'), disk('vdb', 'raw')]): Manifest {
  return {
    manifest_version: 1,
    backup_id: id(n),
    domain: 'vm',
    domain_uuid: UUID,
    mode: parent === null ? 'full' : 'incremental',
    kind: 'manual',
    tier: 'manual',
    engine: 'checkpoint',
    reason: parent === null ? 'the domain has no backup yet' : null,
    parent: parent === null ? null : id(parent),
    created_at: `2026-03-01T00:00:00.00${n}Z`,
    host: 'h',
    quiesce: 'agent',
    freeze_ms: 1,
    bytes: disks.reduce((s, d) => s + d.size, 0),
    disks,
    domain_xml: '<domain/>',
    checkpoint: { name: `virtdr-${id(n)}`, xml: '<domaincheckpoint/>' },
    host_disks: [{ target: 'vda', file: '/images/vda.qcow2', format: 'qcow2', bitmap: `virtdr-${id(n)}` }],
  };
}

const header = (backingFile: string | null, backingFormat: string | null = 'qcow2') => ({ backingFile, backingFormat });

describe('backingProblem: a disk names exactly its parent point’s file, or nothing', () => {
  const [full, child] = [point(1, null), point(2, 1)];

  it('accepts the parent’s same-target file with its format, and a whole copy anywhere', () => {
    expect(backingProblem(child, child.disks[0]!, header(`../${id(1)}/vda.qcow2`), full)).toBeNull();
    expect(backingProblem(child, child.disks[0]!, header(null, null), full)).toBeNull();
    expect(backingProblem(full, full.disks[0]!, header(null, null), null)).toBeNull();
  });

  it('refuses a backing file in a full, another file, another folder, another format', () => {
    expect(backingProblem(full, full.disks[0]!, header(`../${id(2)}/vda.qcow2`), null)).toMatch(/but the point is a full/);
    expect(backingProblem(child, child.disks[0]!, header(`../${id(1)}/vdb.raw`), full)).toMatch(/not \.\.\/.*\/vda\.qcow2/);
    expect(backingProblem(child, child.disks[0]!, header('/etc/shadow', 'raw'), full)).toMatch(/"\/etc\/shadow"/);
    expect(backingProblem(child, child.disks[0]!, header(`../${id(1)}/vda.qcow2`, 'raw'), full)).toMatch(/format as raw, not qcow2/);
    expect(backingProblem(child, child.disks[0]!, header(`../${id(1)}/vda.qcow2`, null), full)).toMatch(/format as nothing/);
    const noVda = point(1, null, [disk('vdb', 'raw')]);
    expect(backingProblem(child, child.disks[0]!, header(`../${id(1)}/vda.qcow2`), noVda)).toMatch(/has no disk vda/);
  });

  it('leaves an untrusted parent to the chain’s verdict', () => {
    expect(backingProblem(child, child.disks[0]!, header(`../${id(1)}/vda.qcow2`), null)).toBeNull();
  });
});

describe('mergedManifest: the child takes the deleted point’s place', () => {
  it('a child of a deleted incremental names the grandparent and keeps its checkpoint and host disks', () => {
    const [deleted, child] = [point(2, 1), point(3, 2)];
    const disks = [{ ...disk('vda'), size: 300, sha256: 'b'.repeat(64) }, disk('vdb', 'raw')];
    const merged = mergedManifest(child, deleted, disks);
    expect(merged).toEqual({ ...child, parent: id(1), disks, bytes: 400 });
  });

  it('a child of a deleted full becomes a full that says why', () => {
    const merged = mergedManifest(point(2, 1), point(1, null), [disk('vda')]);
    expect(merged).toMatchObject({ parent: null, mode: 'full', reason: `merged with the deleted full ${id(1)}`, bytes: 100 });
  });

  it('childrenOf finds every child, not only the first', () => {
    const points = [point(1, null), point(2, 1), point(3, 1), point(4, 2)];
    expect(childrenOf(points, id(1)).map((p) => p.backup_id)).toEqual([id(2), id(3)]);
  });
});

describe('chainProblem: every layer below the top is a trusted point’s disk', () => {
  const dir = `/repo/${UUID}`;
  const points = new Map([point(1, null), point(2, 1)].map((p) => [p.backup_id, p]));
  const top = { file: `${dir}/${id(3)}/vda.qcow2.virtdr-merge`, format: 'qcow2' as const };

  it('accepts a chain of the domain’s points', () => {
    expect(chainProblem([top, { file: `${dir}/${id(2)}/vda.qcow2`, format: 'qcow2' }, { file: `${dir}/${id(1)}/vda.qcow2`, format: 'qcow2' }], dir, points)).toBeNull();
  });

  it('refuses a host file, an unknown point, a file no manifest names, a wrong format; names no host path', () => {
    for (const layer of [
      { file: '/etc/shadow', format: 'raw' as const },
      { file: `${dir}/${id(9)}/vda.qcow2`, format: 'qcow2' as const },
      { file: `${dir}/${id(1)}/vdz.qcow2`, format: 'qcow2' as const },
      { file: `${dir}/${id(1)}/vda.qcow2`, format: 'raw' as const },
    ]) {
      const problem = chainProblem([top, layer], dir, points);
      expect(problem).toMatch(/is not a trusted point's/);
      expect(problem).not.toContain('/repo/');
    }
  });
});

describe('resolveChains: a point restores exactly only if its ancestors do', () => {
  const ok: OwnVerdict = { status: 'ok', problems: [] };
  const own = (entries: [number, OwnVerdict][]) => new Map(entries.map(([n, v]) => [id(n), v]));
  const byIdOf = (points: Manifest[]) => new Map(points.map((p) => [p.backup_id, p]));

  it('passes the first damaged ancestor down, naming it', () => {
    const points = [point(1, null), point(2, 1), point(3, 2), point(4, 3)];
    const verdicts = resolveChains(points, own([[1, ok], [2, { status: 'corrupt', problems: ['vda.qcow2 bad'] }], [3, ok], [4, ok]]), byIdOf(points), []);
    expect(verdicts.map((v) => v.status)).toEqual(['ok', 'corrupt', 'corrupt', 'corrupt']);
    expect(verdicts[3]!.problems).toEqual([`ancestor ${id(2)} is corrupt: restoring this point would not give exact data`]);
  });

  it('a missing ancestor outranks a corrupt point', () => {
    const points = [point(2, 1), point(3, 2)];
    const verdicts = resolveChains(points, own([[2, ok], [3, { status: 'corrupt', problems: ['x'] }]]), byIdOf(points), []);
    expect(verdicts).toEqual([
      { backup_id: id(2), status: 'missing', problems: [`parent ${id(1)} is not in the repository`] },
      { backup_id: id(3), status: 'missing', problems: ['x', `ancestor ${id(1)} is missing: restoring this point would not give exact data`] },
    ]);
  });

  it('an untrusted parent gives its status: corrupt, or missing when it only lost a file', () => {
    const points = [point(2, 1)];
    const corrupt = resolveChains(points, own([[2, ok]]), byIdOf(points), [{ domain_uuid: UUID, backup_id: id(1), reason: 'manifest is not JSON' }]);
    expect(corrupt[0]).toEqual({ backup_id: id(2), status: 'corrupt', problems: [`parent ${id(1)} is not trusted: manifest is not JSON`] });
    const lost = resolveChains(points, own([[2, ok]]), byIdOf(points), [{ domain_uuid: UUID, backup_id: id(1), reason: 'vda.qcow2 is missing', files_missing: true }]);
    expect(lost[0]!.status).toBe('missing');
  });

  it('a loop of parents is corrupt, and resolving it ends', () => {
    const points = [point(1, 2), point(2, 1)];
    const verdicts = resolveChains(points, own([[1, ok], [2, ok]]), byIdOf(points), []);
    expect(verdicts.map((v) => v.status)).toEqual(['corrupt', 'corrupt']);
    expect(verdicts.flatMap((v) => v.problems).join(' ')).toMatch(/loops through/);
  });
});
