import { randomBytes } from 'node:crypto';
import { readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureDirectory, fsyncDirectory, isAtomicTemporary, writeJsonAtomic } from '../util/atomic-file.js';
import { isUuid } from '../util/ids.js';
import { readRegularFile } from '../util/no-follow-fs.js';
import { isFinished, type JobRecord } from './job.js';
import { parseJobRecord } from './parse-job-record.js';

/** Far above any real record (a request, a checkpoint, a result); only bounds the read. */
const MAX_RECORD_BYTES = 16 << 20;

/** A journal file that could not be trusted, and where it went. */
export interface QuarantinedEntry {
  file: string;
  problem: string;
  /** Its path under `quarantine/`, or null when even the move failed (it stays, ignored). */
  movedTo: string | null;
}

/**
 * The job journal: one JSON file per job under `<state>/jobs`, each replaced atomically.
 * A job is written here before its request is acknowledged on the bus, so an accepted
 * request survives a crash; a running job's checkpoints let the next start repair what
 * the crash interrupted.
 *
 * Every file is parsed into a JobRecord on load. One that does not parse is moved into
 * `<state>/jobs/quarantine/` (never deleted: it may be the only trace of a job), and the
 * rest load as usual.
 */
export class JobJournal {
  private readonly dir: string;
  private readonly quarantineDir: string;
  /** Per job, the last write queued; gone once it has settled. */
  private readonly writes = new Map<string, Promise<void>>();

  constructor(statePath: string) {
    this.dir = join(statePath, 'jobs');
    this.quarantineDir = join(this.dir, 'quarantine');
  }

  async open(): Promise<void> {
    await ensureDirectory(this.dir);
    for (const name of await readdir(this.dir)) {
      if (isAtomicTemporary(name)) await rm(join(this.dir, name), { force: true });
    }
  }

  /**
   * Saves the job as it is at the call. Writes of one job land in call order, so an older
   * state never lands last; a failed write rejects for its caller (a checkpoint that is
   * not on disk must stop the job) without blocking the writes queued after it.
   */
  save(job: JobRecord): Promise<void> {
    const snapshot = structuredClone(job);
    const previous = this.writes.get(job.job_id) ?? Promise.resolve();
    const write = previous.then(() => writeJsonAtomic(this.fileOf(snapshot.job_id), snapshot));
    const settled = write.catch(() => undefined);
    this.writes.set(job.job_id, settled);
    void settled.then(() => {
      if (this.writes.get(job.job_id) === settled) this.writes.delete(job.job_id);
    });
    return write;
  }

  /** Every valid job on record, oldest first; each invalid file is quarantined and reported. */
  async loadAll(onQuarantined: (entry: QuarantinedEntry) => void): Promise<JobRecord[]> {
    const jobs: JobRecord[] = [];
    for (const name of await readdir(this.dir)) {
      if (!name.endsWith('.json') || !isUuid(name.slice(0, -5))) continue;
      const parsed = await this.read(name);
      if (parsed.ok) jobs.push(parsed.job);
      else onQuarantined({ file: name, ...(await this.quarantine(name, parsed.problem)) });
    }
    return jobs.sort((a, b) => a.created_at.localeCompare(b.created_at));
  }

  /** Keeps the newest `keep` finished jobs; returns the ids it dropped. A pending repair is kept. */
  async prune(jobs: JobRecord[], keep: number): Promise<string[]> {
    const finished = jobs.filter((j) => isFinished(j.state) && !j.repair_pending);
    const drop = finished.slice(0, Math.max(0, finished.length - keep));
    await Promise.all(drop.map((j) => rm(this.fileOf(j.job_id), { force: true })));
    return drop.map((j) => j.job_id);
  }

  private async read(name: string): Promise<ReturnType<typeof parseJobRecord>> {
    let value: unknown;
    try {
      value = JSON.parse((await readRegularFile(join(this.dir, name), MAX_RECORD_BYTES)).toString('utf8'));
    } catch (err) {
      return { ok: false, problem: `unreadable: ${(err as Error).message}` };
    }
    return parseJobRecord(value, name.slice(0, -5));
  }

  /**
   * Moves a file aside under a name no other quarantined file has (rename would replace
   * one silently). When even that fails, the file stays where it is and is skipped.
   */
  private async quarantine(name: string, problem: string): Promise<Omit<QuarantinedEntry, 'file'>> {
    const stamp = new Date().toISOString().replace(/[-:.]/g, '');
    const target = join(this.quarantineDir, `${name}.${stamp}-${randomBytes(3).toString('hex')}`);
    try {
      await ensureDirectory(this.quarantineDir);
      await rename(join(this.dir, name), target);
      await fsyncDirectory(this.dir);
      return { problem, movedTo: target };
    } catch (err) {
      return { problem: `${problem}; could not move it aside: ${(err as Error).message}`, movedTo: null };
    }
  }

  private fileOf(jobId: string): string {
    if (!isUuid(jobId)) throw new Error(`not a job id: ${jobId}`);
    return join(this.dir, `${jobId}.json`);
  }
}
