import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureDirectory, isAtomicTemporary, writeJsonAtomic } from '../util/atomic-file.js';
import { isUuid } from '../util/ids.js';
import { isFinished, type JobRecord } from './job.js';

/**
 * The job journal: one JSON file per job under `<state>/jobs`, each replaced atomically.
 * A job is written here before its request is acknowledged on the bus, so an accepted
 * request survives a crash; a running job's checkpoints let the next start repair what
 * the crash interrupted.
 */
export class JobJournal {
  private readonly dir: string;

  constructor(statePath: string) {
    this.dir = join(statePath, 'jobs');
  }

  async open(): Promise<void> {
    await ensureDirectory(this.dir);
    for (const name of await readdir(this.dir)) {
      if (isAtomicTemporary(name)) await rm(join(this.dir, name), { force: true });
    }
  }

  async save(job: JobRecord): Promise<void> {
    await writeJsonAtomic(this.fileOf(job.job_id), job);
  }

  /** Every job on record, oldest first. Unreadable files are reported, not fatal. */
  async loadAll(onUnreadable: (file: string, err: Error) => void): Promise<JobRecord[]> {
    const jobs: JobRecord[] = [];
    for (const name of await readdir(this.dir)) {
      if (!name.endsWith('.json') || !isUuid(name.slice(0, -5))) continue;
      try {
        jobs.push(JSON.parse(await readFile(join(this.dir, name), 'utf8')) as JobRecord);
      } catch (err) {
        onUnreadable(name, err as Error);
      }
    }
    return jobs.sort((a, b) => a.created_at.localeCompare(b.created_at));
  }

  /** Keeps the newest `keep` finished jobs; returns the ids it dropped. */
  async prune(jobs: JobRecord[], keep: number): Promise<string[]> {
    const finished = jobs.filter((j) => isFinished(j.state));
    const drop = finished.slice(0, Math.max(0, finished.length - keep));
    await Promise.all(drop.map((j) => rm(this.fileOf(j.job_id), { force: true })));
    return drop.map((j) => j.job_id);
  }

  private fileOf(jobId: string): string {
    if (!isUuid(jobId)) throw new Error(`not a job id: ${jobId}`);
    return join(this.dir, `${jobId}.json`);
  }
}
