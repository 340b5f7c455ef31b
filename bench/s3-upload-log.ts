/**
 * When a backup's S3 upload ran, read from the agent's own log (JSON lines, pino's ISO
 * `time`, millisecond resolution): the backup's notifications carry no progress for the
 * publish step, and timing the whole request would add the engine's staging of the point.
 */

/** The engine's last line before it hands the staged point to the target's publishPoint. */
export const STAGED_MESSAGES: readonly string[] = [
  // checkpoint engine: QEMU's job ended, the files are flushed and hashed
  'backup job finished; files relinked, flushed and verified',
  // snapshot engine: once per disk; the last one is the point staged
  'disk saved and verified',
];
/** S3Target.publishPoint, after a disk's multipart upload completed and its size, sha256 and ETag were checked. */
export const STORED_MESSAGE = 'disk file stored and verified on the target';
/** S3Target.publishPoint's end: the manifest is stored, the staging marker gone. */
export const PUBLISHED_MESSAGE = 'point published on the target';

/** Seconds from the staged point to the disk object verified (the upload) and to the point published. */
export interface UploadSpan {
  uploadS: number;
  publishS: number;
}

interface LogLine {
  time: string;
  msg: string;
  job_id?: string;
  backup_id?: string;
  file?: string;
}

/**
 * The upload of `file` by backup job `jobId` (point `backupId`). The engine logs under the
 * job's id; the target under the point's. Throws naming what is missing.
 */
export function uploadSpanOf(log: string, point: { jobId: string; backupId: string; file: string }): UploadSpan {
  const lines = parseLines(log);
  const staged = lines.filter((l) => l.job_id === point.jobId && STAGED_MESSAGES.includes(l.msg)).pop();
  const stored = lines.find((l) => l.backup_id === point.backupId && l.file === point.file && l.msg === STORED_MESSAGE);
  const published = lines.find((l) => l.backup_id === point.backupId && l.msg === PUBLISHED_MESSAGE);
  const missing = [!staged && `job ${point.jobId}'s "${STAGED_MESSAGES.join('" or "')}"`, !stored && `"${STORED_MESSAGE}" for ${point.file}`, !published && `"${PUBLISHED_MESSAGE}"`];
  if (!staged || !stored || !published) {
    throw new Error(`the agent's log lacks ${missing.filter(Boolean).join(', ')} of backup ${point.backupId}`);
  }
  const at = (line: LogLine) => Date.parse(line.time);
  return { uploadS: (at(stored) - at(staged)) / 1000, publishS: (at(published) - at(staged)) / 1000 };
}

/** The JSON lines with a time and a message; anything else (a stack trace, a partial last line) is skipped. */
function parseLines(log: string): LogLine[] {
  const lines: LogLine[] = [];
  for (const text of log.split('\n')) {
    if (!text.startsWith('{')) continue;
    try {
      const line = JSON.parse(text) as Partial<LogLine>;
      if (typeof line.time === 'string' && typeof line.msg === 'string' && !Number.isNaN(Date.parse(line.time))) lines.push(line as LogLine);
    } catch {
      // not a whole JSON line
    }
  }
  return lines;
}
