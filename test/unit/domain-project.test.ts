import { describe, expect, it } from 'vitest';
import { novaOwnerProject, projectOf } from '../../src/policy/domain-project.js';
import { NOVA_METADATA_XML } from '../support/guest.js';

const PROJECT = '0a1b2c3d4e5f40718293a4b5c6d7e8f9';
const domainXml = (metadata: string) => `<domain type='kvm'>\n  <name>instance-00000001</name>\n${metadata}  <devices/>\n</domain>\n`;

describe("a domain's project", () => {
  it("is Nova's owner project, from the instance metadata Nova writes", () => {
    expect(novaOwnerProject(domainXml(NOVA_METADATA_XML))).toBe(PROJECT);
    expect(projectOf(domainXml(NOVA_METADATA_XML), 'from-context')).toBe(PROJECT);
  });

  it('follows the namespace, not the prefix, and any 1.x version of it', () => {
    const metadata = `<metadata><os:instance xmlns:os="http://openstack.org/xmlns/libvirt/nova/1.0"><os:owner><os:project uuid="p-1">demo</os:project></os:owner></os:instance></metadata>\n`;
    expect(novaOwnerProject(domainXml(metadata))).toBe('p-1');
    const otherNamespace = `<metadata><nova:instance xmlns:nova="http://example.org/not-nova"><nova:owner><nova:project uuid="p-2"/></nova:owner></nova:instance></metadata>\n`;
    expect(novaOwnerProject(domainXml(otherNamespace))).toBeNull();
  });

  it("is the request context's project_id for a domain Nova does not own, when that is a valid id", () => {
    expect(projectOf(domainXml(''), 'tenant_1')).toBe('tenant_1');
    expect(projectOf(null, 'tenant_1')).toBe('tenant_1');
    for (const hostile of ['../etc', '', 'x'.repeat(65), 42, null, undefined, ['a']]) expect(projectOf(domainXml(''), hostile)).toBeNull();
  });

  it('is none for metadata without an owner, an owner id that is not an id, or XML that does not parse', () => {
    const noOwner = `<metadata><nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1"><nova:name>x</nova:name></nova:instance></metadata>\n`;
    const badId = NOVA_METADATA_XML.replace(PROJECT, '../../etc/passwd');
    expect(novaOwnerProject(domainXml(noOwner))).toBeNull();
    expect(projectOf(domainXml(badId), 'ctx')).toBe('ctx');
    expect(novaOwnerProject('<domain><metadata>')).toBeNull();
    expect(novaOwnerProject('not xml at all')).toBeNull();
  });
});
