import { escapeXml } from '../../util/xml-escape.js';
import type { DiskPlan } from './plan.js';

/**
 * The snapshot request: every planned disk gets an external overlay, and every other
 * disk is named with snapshot='no' so libvirt never applies a default to it.
 */
export function diskSnapshotXml(backupId: string, planned: DiskPlan[], otherTargets: string[]): string {
  const disks = [
    ...planned.map(
      (d) =>
        `    <disk name='${escapeXml(d.target)}' snapshot='external'>\n` +
        `      <driver type='qcow2'/>\n` +
        `      <source file='${escapeXml(d.overlay)}'/>\n` +
        `    </disk>`,
    ),
    ...otherTargets.map((t) => `    <disk name='${escapeXml(t)}' snapshot='no'/>`),
  ];
  return [
    '<domainsnapshot>',
    `  <name>virtdr-${escapeXml(backupId)}</name>`,
    `  <description>virt-dr-agent backup ${escapeXml(backupId)}</description>`,
    '  <disks>',
    ...disks,
    '  </disks>',
    '</domainsnapshot>',
  ].join('\n');
}

