import { escapeXml } from '../../util/xml-escape.js';
import type { CheckpointDiskPlan, CheckpointPlan } from './plan.js';

/**
 * The push-mode backup request: each planned disk is written by QEMU into its file in the
 * staging folder, incrementally from the parent's checkpoint or in full; every other disk
 * is named with backup='no' so libvirt applies no default to it.
 */
export function backupXml(plan: CheckpointPlan, stagingDir: string, otherTargets: string[]): string {
  const disks = [
    ...plan.disks.map((d) => {
      const mode =
        d.incremental && plan.parent
          ? `backupmode='incremental' incremental='${escapeXml(plan.parent.checkpointName)}'`
          : `backupmode='full'`;
      return (
        `    <disk name='${escapeXml(d.target)}' backup='yes' type='file' ${mode}>\n` +
        `      <driver type='qcow2'/>\n` +
        `      <target file='${escapeXml(`${stagingDir}/${d.pointFile}`)}'/>\n` +
        `    </disk>`
      );
    }),
    ...otherTargets.map((t) => `    <disk name='${escapeXml(t)}' backup='no'/>`),
  ];
  return ["<domainbackup mode='push'>", '  <disks>', ...disks, '  </disks>', '</domainbackup>'].join('\n');
}

/** The checkpoint the backup creates: a bitmap on every disk that can carry one, none elsewhere. */
export function checkpointXml(name: string, backupId: string, disks: CheckpointDiskPlan[], otherTargets: string[]): string {
  const entries = [
    ...disks.map((d) =>
      d.tracked
        ? `    <disk name='${escapeXml(d.target)}' checkpoint='bitmap' bitmap='${escapeXml(name)}'/>`
        : `    <disk name='${escapeXml(d.target)}' checkpoint='no'/>`,
    ),
    ...otherTargets.map((t) => `    <disk name='${escapeXml(t)}' checkpoint='no'/>`),
  ];
  return [
    '<domaincheckpoint>',
    `  <name>${escapeXml(name)}</name>`,
    `  <description>virt-dr-agent backup ${escapeXml(backupId)}</description>`,
    '  <disks>',
    ...entries,
    '  </disks>',
    '</domaincheckpoint>',
  ].join('\n');
}

/**
 * A checkpoint's XML as the repository keeps it, for a later REDEFINE: without <parent>,
 * because the parent's metadata is gone by then and libvirt refuses a redefinition that
 * names a parent it does not know ("parent … for moment … not found").
 */
export function redefinableXml(xml: string): string {
  return xml.replace(/\s*<parent>[\s\S]*?<\/parent>/, '');
}

/**
 * Just enough of a checkpoint for libvirt to remove its bitmaps: an agent bitmap with no
 * metadata (left by a crash, or inconsistent after QEMU was killed) is removed by
 * redefining this without validation, then deleting it.
 */
export function bitmapOnlyCheckpointXml(name: string, targets: string[], creationTime: number): string {
  return [
    '<domaincheckpoint>',
    `  <name>${escapeXml(name)}</name>`,
    `  <creationTime>${Math.floor(creationTime)}</creationTime>`,
    '  <disks>',
    ...targets.map((t) => `    <disk name='${escapeXml(t)}' checkpoint='bitmap' bitmap='${escapeXml(name)}'/>`),
    '  </disks>',
    '</domaincheckpoint>',
  ].join('\n');
}

