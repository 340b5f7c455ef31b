import { isAbsolute, normalize } from 'node:path';
import { ConfigError, type AgentConfig } from '../config.js';
import { childElements, descendants, firstChild, getAttr, setAttr, setText, textOf, type XmlNode } from '../util/xml-tree.js';

/**
 * How a domain from another host is fitted to this one: a DR node names its bridges,
 * libvirt networks and storage folders its own way. Paths are mapped by their longest
 * matching folder prefix; a path, bridge or network no entry names stays as it was.
 *
 *   failover.path_map     [{"from": "/var/lib/nova/instances", "to": "/srv/dr/instances"}]
 *   failover.bridge_map   {"br-int": "br-dr"}
 *   failover.network_map  {"default": "dr-net"}
 */
export interface HostMapping {
  paths: { from: string; to: string }[];
  bridges: Record<string, string>;
  networks: Record<string, string>;
}

export const NO_MAPPING: HostMapping = { paths: [], bridges: {}, networks: {} };

/** Parsed once at start-up: absolute, normalised folders; names that are strings. */
export function hostMappingOf(failover: AgentConfig['failover']): HostMapping {
  const problems: string[] = [];
  const paths = failover.path_map.flatMap((entry, i) => {
    const from = (entry as { from?: unknown }).from;
    const to = (entry as { to?: unknown }).to;
    if (typeof from !== 'string' || typeof to !== 'string' || !isAbsolute(from) || !isAbsolute(to) || from.includes('\0') || to.includes('\0')) {
      problems.push(`failover.path_map[${i}] must be {"from": absolute folder, "to": absolute folder}`);
      return [];
    }
    return [{ from: folder(from), to: folder(to) }];
  });
  const names = (key: 'bridge_map' | 'network_map'): Record<string, string> => {
    const map = failover[key];
    for (const [from, to] of Object.entries(map)) {
      if (typeof to !== 'string' || to === '') problems.push(`failover.${key}.${from} must name a ${key === 'bridge_map' ? 'bridge' : 'network'}`);
    }
    return map as Record<string, string>;
  };
  const mapping = { paths: paths.sort((a, b) => b.from.length - a.from.length), bridges: names('bridge_map'), networks: names('network_map') };
  if (problems.length > 0) throw new ConfigError(problems.join('; '));
  return mapping;
}

/** The path on this host for a path of the domain's home host. */
export function mapPath(mapping: HostMapping, path: string): string {
  const clean = normalize(path);
  for (const { from, to } of mapping.paths) {
    if (clean === from) return to;
    if (clean.startsWith(`${from}/`)) return `${to}${clean.slice(from.length)}`;
  }
  return path;
}

/**
 * Fits a domain definition to this host: each interface's bridge or network, and every
 * host path the definition names outside its disks (kernel, initrd, firmware, NVRAM,
 * serial and console files, cdroms). Restored disks get their mapped paths from the plan.
 */
export function mapDomain(domain: XmlNode, mapping: HostMapping): void {
  const devices = firstChild(domain, 'devices');
  for (const iface of devices ? childElements(devices, 'interface') : []) {
    const source = firstChild(iface, 'source');
    if (!source) continue;
    renameAttr(source, 'bridge', mapping.bridges);
    renameAttr(source, 'network', mapping.networks);
  }
  const os = firstChild(domain, 'os');
  for (const tag of ['kernel', 'initrd', 'loader', 'nvram', 'dtb']) {
    for (const node of os ? childElements(os, tag) : []) {
      const path = textOf(node);
      if (isAbsolute(path)) setText(node, mapPath(mapping, path));
    }
  }
  for (const source of descendants(domain, 'source')) {
    for (const attr of ['file', 'path']) {
      const value = getAttr(source, attr);
      if (value !== undefined && isAbsolute(value)) setAttr(source, attr, mapPath(mapping, value));
    }
  }
}

function renameAttr(node: XmlNode, attr: string, names: Record<string, string>): void {
  const value = getAttr(node, attr);
  if (value !== undefined && Object.hasOwn(names, value)) setAttr(node, attr, names[value]!);
}

function folder(path: string): string {
  return normalize(path).replace(/\/+$/, '') || '/';
}
