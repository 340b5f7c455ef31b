import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { hostMappingOf, mapDomain, mapPath } from '../../src/failover/host-mapping.js';
import { buildXmlTree, parseXmlTree, tagOf } from '../../src/util/xml-tree.js';

const failover = (fields: Partial<ReturnType<typeof loadConfig>['failover']>) => ({ ...loadConfig({}).failover, ...fields });

describe('fitting a domain from its home host to a DR node', () => {
  const mapping = hostMappingOf(
    failover({
      path_map: [
        { from: '/var/lib/nova/instances/', to: '/srv/dr/instances' },
        { from: '/var/lib/nova/instances/_base', to: '/srv/dr/base' },
      ],
      bridge_map: { 'br-int': 'br-dr' },
      network_map: { default: 'dr-net' },
    }),
  );

  it('maps a path by its longest folder prefix, and leaves others alone', () => {
    expect(mapPath(mapping, '/var/lib/nova/instances/u1/disk')).toBe('/srv/dr/instances/u1/disk');
    expect(mapPath(mapping, '/var/lib/nova/instances/_base/abc')).toBe('/srv/dr/base/abc');
    expect(mapPath(mapping, '/var/lib/nova/instances-old/disk')).toBe('/var/lib/nova/instances-old/disk');
    expect(mapPath(mapping, '/images/a.qcow2')).toBe('/images/a.qcow2');
  });

  it('renames bridges and networks, and maps kernel, console and cdrom paths', () => {
    const nodes = parseXmlTree(`<domain type='qemu'><os><kernel>/var/lib/nova/instances/u1/kernel</kernel></os><devices>
      <disk type='file' device='cdrom'><source file='/var/lib/nova/instances/u1/disk.config'/><target dev='sda'/></disk>
      <interface type='bridge'><source bridge='br-int'/></interface>
      <interface type='network'><source network='default'/></interface>
      <interface type='network'><source network='other'/></interface>
      <serial type='file'><source path='/var/lib/nova/instances/u1/console.log'/></serial>
    </devices></domain>`);
    mapDomain(nodes.find((n) => tagOf(n) === 'domain')!, mapping);
    const xml = buildXmlTree(nodes);
    expect(xml).toContain('<kernel>/srv/dr/instances/u1/kernel</kernel>');
    expect(xml).toContain('bridge="br-dr"');
    expect(xml).toContain('network="dr-net"');
    expect(xml).toContain('network="other"');
    expect(xml).toContain('/srv/dr/instances/u1/disk.config');
    expect(xml).toContain('/srv/dr/instances/u1/console.log');
  });

  it('refuses relative folders and names that are not strings, each named', () => {
    expect(() => hostMappingOf(failover({ path_map: [{ from: 'rel', to: '/x' }], bridge_map: { a: 3 } }))).toThrow(ConfigError);
    expect(() => hostMappingOf(failover({ path_map: [{ from: 'rel', to: '/x' }], bridge_map: { a: 3 } }))).toThrow(/path_map\[0\].*bridge_map\.a/);
  });
});
