import { NOVA_NAMESPACE_PREFIX } from '../libvirt/domain-xml.js';
import { isProjectId } from '../util/ids.js';
import { attributeNames, childElements, firstChild, getAttr, parseXmlTree, tagOf, type XmlNode } from '../util/xml-tree.js';

/**
 * The project a domain's policy layer comes from: Nova's owner project, written into the
 * domain's XML by Nova itself (nova/virt/libvirt/config.py, LibvirtConfigGuestMetaNovaOwner):
 *
 *   <metadata>
 *     <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
 *       <nova:owner>
 *         <nova:user uuid="…">name</nova:user>
 *         <nova:project uuid="<project id>">name</nova:project>
 *
 * else the request context's `project_id` (a domain Nova does not own) when it is a valid
 * id, else none.
 */
export function projectOf(domainXml: string | null, contextProjectId: unknown): string | null {
  const owner = domainXml === null ? null : novaOwnerProject(domainXml);
  if (owner !== null) return owner;
  return typeof contextProjectId === 'string' && isProjectId(contextProjectId) ? contextProjectId : null;
}

/** The project id in Nova's instance metadata, or null (no Nova metadata, no valid id, not XML). */
export function novaOwnerProject(domainXml: string): string | null {
  let nodes: XmlNode[];
  try {
    nodes = parseXmlTree(domainXml);
  } catch {
    return null;
  }
  const domain = nodes.find((n) => tagOf(n) === 'domain');
  const metadata = domain && firstChild(domain, 'metadata');
  if (!metadata) return null;
  for (const instance of childElements(metadata)) {
    const prefix = novaPrefix(instance);
    if (prefix === null || tagOf(instance) !== `${prefix}instance`) continue;
    const owner = firstChild(instance, `${prefix}owner`);
    const project = owner && firstChild(owner, `${prefix}project`);
    const id = project && getAttr(project, 'uuid');
    if (id !== undefined && isProjectId(id)) return id;
  }
  return null;
}

/** `nova:` when the element declares Nova's namespace as `xmlns:nova` ('' for a default namespace); else null. */
function novaPrefix(element: XmlNode): string | null {
  for (const name of ['xmlns', ...attributeNames(element).filter((n) => n.startsWith('xmlns:'))]) {
    if (getAttr(element, name)?.startsWith(NOVA_NAMESPACE_PREFIX)) return name === 'xmlns' ? '' : `${name.slice('xmlns:'.length)}:`;
  }
  return null;
}
