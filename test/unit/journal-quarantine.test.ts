import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import type { JobRecord } from '../../src/jobs/job.js';
import { JobJournal, type QuarantinedEntry } from '../../src/jobs/journal.js';
import { parseJobRecord } from '../../src/jobs/parse-job-record.js';
import { controllableOperation, runner, silentLog, submission, tempState, uuidA, uuidB } from '../support/job-runner-fakes.js';

const GOOD = '11111111-1111-4111-8111-111111111111';
const BAD = '22222222-2222-4222-8222-222222222222';

/** A record as the runner writes it, for a queued job. */
function record(jobId: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    job_id: jobId,
    action: 'backup',
    domain: 'vm-a',
    domain_uuid: uuidA,
    domain_name: 'vm-a',
    state: 'queued',
    created_at: '2026-11-24T01:00:00.000Z',
    started_at: null,
    finished_at: null,
    progress: { bytes_done: 0, bytes_total: 0 },
    result: null,
    error: null,
    request: { args: {}, context: {}, request_id: 'req-1', unique_id: null },
    checkpoint: null,
    repair_pending: false,
    ...overrides,
  };
}

function withoutKey(value: Record<string, unknown>, key: string): Record<string, unknown> {
  const { [key]: _dropped, ...rest } = value;
  return rest;
}

function jobsDir(state: string): string {
  const dir = join(state, 'jobs');
  mkdirSync(dir, { recursive: true });
  return dir;
}

async function load(state: string): Promise<{ jobs: JobRecord[]; quarantined: QuarantinedEntry[] }> {
  const journal = new JobJournal(state);
  await journal.open();
  const quarantined: QuarantinedEntry[] = [];
  const jobs = await journal.loadAll((entry) => quarantined.push(entry));
  return { jobs, quarantined };
}

/** Each bad file content, and a word its reported problem must name. */
const BAD_CONTENTS: [string, string, string][] = [
  ['null', 'null', 'the record is null'],
  ['an array', '[]', 'the record is an array'],
  ['not JSON', '{"job_id": ', 'unreadable'],
  ['a record without request', JSON.stringify(withoutKey(record(BAD), 'request')), 'request is missing'],
  ['a state that is no state', JSON.stringify(record(BAD, { state: 'done' })), 'state is the string "done"'],
  ['a state of another type', JSON.stringify(record(BAD, { state: 3 })), 'state is number 3'],
  ['progress as a string', JSON.stringify(record(BAD, { progress: { bytes_done: '5', bytes_total: 0 } })), 'bytes_done'],
  ['a negative byte count', JSON.stringify(record(BAD, { progress: { bytes_done: -1, bytes_total: 0 } })), 'bytes_done'],
  ['a phase that is no phase', JSON.stringify(record(BAD, { progress: { bytes_done: 0, bytes_total: 0, phase: 'rebooting' } })), 'phase'],
  ['created_at a number', JSON.stringify(record(BAD, { created_at: 42 })), 'created_at'],
  ['created_at no time', JSON.stringify(record(BAD, { created_at: 'yesterday' })), 'created_at'],
  ['args an array', JSON.stringify(record(BAD, { request: { args: [], context: {}, request_id: null, unique_id: null } })), 'request.args'],
  ['request_id a number', JSON.stringify(record(BAD, { request: { args: {}, context: {}, request_id: 7, unique_id: null } })), 'request_id'],
  ['an unknown action', JSON.stringify(record(BAD, { action: 'rm -rf' })), 'action'],
  ['a domain_uuid that is a path', JSON.stringify(record(BAD, { domain_uuid: '../../etc' })), 'domain_uuid'],
  ['an error without a class', JSON.stringify(record(BAD, { state: 'failed', error: { message: 'x' } })), 'class'],
  ['another job id than its file name', JSON.stringify(record(GOOD)), 'does not match its file name'],
  ['repair_pending without a checkpoint', JSON.stringify(record(BAD, { state: 'failed', repair_pending: true })), 'no checkpoint'],
];

describe('the job journal parses every record', () => {
  it.each(BAD_CONTENTS)('moves aside %s, keeps its bytes, and loads the rest', async (_name, content, problem) => {
    const state = tempState();
    const dir = jobsDir(state);
    writeFileSync(join(dir, `${GOOD}.json`), JSON.stringify(record(GOOD)));
    writeFileSync(join(dir, `${BAD}.json`), content);

    const { jobs, quarantined } = await load(state);

    expect(jobs.map((j) => j.job_id)).toEqual([GOOD]);
    expect(quarantined).toHaveLength(1);
    expect(quarantined[0]!.file).toBe(`${BAD}.json`);
    expect(quarantined[0]!.problem).toContain(problem);
    expect(existsSync(join(dir, `${BAD}.json`))).toBe(false);
    const moved = quarantined[0]!.movedTo!;
    expect(moved.startsWith(join(dir, 'quarantine', `${BAD}.json.`))).toBe(true);
    expect(readFileSync(moved, 'utf8')).toBe(content);
  });

  it('moves aside what is not a regular file without waiting on it: a FIFO, a folder, a symlink', async () => {
    const state = tempState();
    const dir = jobsDir(state);
    const names = ['33333333-3333-4333-8333-333333333333', '44444444-4444-4444-8444-444444444444', BAD].map((id) => `${id}.json`);
    execFileSync('mkfifo', [join(dir, names[0]!)]);
    mkdirSync(join(dir, names[1]!));
    writeFileSync(join(state, 'elsewhere.json'), JSON.stringify(record(BAD)));
    symlinkSync(join(state, 'elsewhere.json'), join(dir, names[2]!));

    const { jobs, quarantined } = await load(state);

    expect(jobs).toEqual([]);
    expect(quarantined.map((q) => q.file).sort()).toEqual([...names].sort());
    expect(quarantined.every((q) => q.movedTo !== null)).toBe(true);
    expect(readdirSync(join(dir, 'quarantine'))).toHaveLength(3);
    // The symlink was moved, not what it points to.
    expect(existsSync(join(state, 'elsewhere.json'))).toBe(true);
  });

  it('never overwrites an earlier quarantined file of the same name', async () => {
    const state = tempState();
    const dir = jobsDir(state);
    writeFileSync(join(dir, `${BAD}.json`), 'null');
    await load(state);
    writeFileSync(join(dir, `${BAD}.json`), '[]');
    await load(state);
    const kept = readdirSync(join(dir, 'quarantine')).map((f) => readFileSync(join(dir, 'quarantine', f), 'utf8'));
    expect(kept.sort()).toEqual(['[]', 'null']);
  });

  it('reads a record from before phases existed as in no phase, and keeps a phase it has', () => {
    const old = parseJobRecord(record(GOOD, { progress: { bytes_done: 5, bytes_total: 9 } }), GOOD);
    expect(old.ok && old.job.progress).toEqual({ bytes_done: 5, bytes_total: 9, phase: null });
    const current = parseJobRecord(record(GOOD, { progress: { bytes_done: 5, bytes_total: 9, phase: 'pivoting' } }), GOOD);
    expect(current.ok && current.job.progress.phase).toBe('pivoting');
  });

  it('reads a record from before repair_pending existed as not pending', () => {
    const parsed = parseJobRecord(withoutKey(record(GOOD), 'repair_pending'), GOOD);
    expect(parsed.ok && parsed.job.repair_pending).toBe(false);
  });
});

describe('a runner over a damaged journal', () => {
  it('starts, logs each bad entry, and leaks no slot: the valid queued job and the next job run', async () => {
    const state = tempState();
    const dir = jobsDir(state);
    const queued = '55555555-5555-4555-8555-555555555555';
    writeFileSync(join(dir, `${BAD}.json`), JSON.stringify(withoutKey(record(BAD, { domain_uuid: uuidB }), 'request')));
    writeFileSync(join(dir, '66666666-6666-4666-8666-666666666666.json'), 'null');
    writeFileSync(join(dir, `${queued}.json`), JSON.stringify(record(queued)));
    const { operation, started, finish } = controllableOperation();
    // One slot: a job that leaked it would keep every later job from starting.
    const jobs = runner(state, operation, [], 1);
    const errors = vi.spyOn(silentLog, 'error');
    onTestFinished(() => errors.mockRestore());

    await jobs.start();

    expect(errors.mock.calls.filter(([, message]) => message === 'journal entry quarantined')).toHaveLength(2);
    expect(() => jobs.get(BAD)).toThrow('no job');
    await vi.waitFor(() => expect(started).toEqual([queued]));
    finish(queued);
    expect((await jobs.waitFor(queued)).state).toBe('succeeded');
    // The domain of the record without request is free, and the slot with it.
    const next = await jobs.submit(submission(uuidB));
    await vi.waitFor(() => expect(started).toEqual([queued, next.job_id]));
    finish(next.job_id);
    expect((await jobs.waitFor(next.job_id)).state).toBe('succeeded');
  });
});
