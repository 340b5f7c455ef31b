/**
 * Fuzzing the bus edge: 10,000 generated messages (random JSON, wrong types, huge strings,
 * deep nesting, broken bytes) through the envelope parser and, when they parse, through
 * the API's dispatch and its argument readers, with fakes behind them. Each must end in a
 * request and a result, or a typed error; never another exception. Whatever comes out
 * (error messages, the salvaged request_id, the context the journal and notifications
 * would keep, the failure reply) is small, and no message takes long.
 *
 * The generator is seeded: a failure names its seed and message number, and reruns the same.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createApi, type ApiDeps } from '../../src/api/methods.js';
import { sanitizeContext } from '../../src/bus/context.js';
import { encodeEnvelope, failureOf, parseRequest, readRequest, type RpcRequest } from '../../src/bus/envelope.js';
import { REQUEST_LIMITS } from '../../src/bus/limits.js';
import { DomainNotFound, JobNotFound, MalformedMessage, VirtDrError } from '../../src/errors.js';
import type { JobSubmission } from '../../src/jobs/job-runner.js';
import type { HypervisorDomain } from '../../src/libvirt/hypervisor.js';
import { Policies } from '../../src/policy/policies.js';
import { POLICY_KEYS } from '../../src/policy/policy.js';
import { PolicyStore } from '../../src/policy/policy-store.js';
import { TEST_FACTS, TEST_PARSE_CONTEXT } from '../support/policy-fixtures.js';
import { mulberry32 } from '../support/prng.js';

const SEED = 0x5eed_b05;
const MESSAGES = 10_000;
const MiB = 1024 * 1024;
/** The longest error message, failure reply and kept context any message may produce. */
const MAX_MESSAGE_CHARS = 2200;
const MAX_FAILURE_CHARS = 5000;
const MAX_KEPT_CONTEXT_CHARS = 40_000;

class Gen {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  int(max: number): number {
    return Math.floor(this.next() * max);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  /** Short strings, control characters, unicode, and now and then a huge one. */
  string(): string {
    if (this.chance(0.002)) return this.pick(['x', '€', '\u0000', '{']).repeat(this.pick([64 * 1024, MiB / 2, MiB + 1, 2 * MiB]));
    if (this.chance(0.03)) return 'y'.repeat(this.pick([127, 128, 129, 255, 256, 512, 513, 1024, 1025, 5000, 70_000]));
    const alphabet = ['a', 'Z', '0', '_', '-', '.', '/', '..', ' ', '\n', '"', '\\', '\u0000', 'é', '😀', '%s', '${x}', 'reply_', 'f'];
    return Array.from({ length: this.int(40) }, () => this.pick(alphabet)).join('');
  }
  /** Any JSON value, nesting up to `depth` levels. */
  value(depth: number): unknown {
    const kind = this.int(depth > 0 ? 9 : 6);
    switch (kind) {
      case 0:
        return null;
      case 1:
        return this.chance(0.5);
      case 2:
        return this.pick([0, -1, 1.5, 1e10, -1e308, 2 ** 53, 0.001]);
      case 3:
      case 4:
      case 5:
        return this.string();
      case 6:
        return Array.from({ length: this.int(this.chance(0.02) ? 400 : 5) }, () => this.value(depth - 1));
      default:
        return this.object(depth - 1, []);
    }
  }
  object(depth: number, favourite: readonly string[]): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (let i = this.int(6); i > 0; i--) {
      const key = favourite.length > 0 && this.chance(0.7) ? this.pick(favourite) : this.string();
      out[key] = this.value(depth);
    }
    return out;
  }
  /** `[[...]]` or `{"a":{...}}` as text, `levels` deep: built as text, never as a value. */
  nestedText(levels: number): string {
    return this.chance(0.5) ? `${'['.repeat(levels)}${']'.repeat(levels)}` : `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
  }
}

const METHODS = ['ping', 'backup', 'list_backups', 'get_backup', 'get_job', 'list_jobs', 'get_policy', 'set_policy', 'frobnicate', '__proto__', 'constructor', 'toString'];
const ARG_NAMES = ['domain', 'mode', 'quiesce', 'kind', 'exclude_disks', 'wait', 'backup_id', 'job_id', 'state', 'project', 'policy', '__proto__'];
/** The keys of a policy and of its parts, so generated policies get past the first level. */
const POLICY_NAMES = [...POLICY_KEYS, 'interval_s', 'cron', 'tz', 'weekly', 'days', 'max_count', 'daily', 'fast', 'slow', 'manual', 'capacity', 'count', 'target', 'primary', 'secondaries', 'copies'];
const ARG_VALUES = ['vm-fuzz', 'auto', 'full', 'incremental', 'agent', 'none', 'manual', 'queued', '0b5c3f5e-0000-4000-8000-000000000001', '20240101T000000000Z-abcdef'];
const ENVELOPE_KEYS = ['method', 'args', 'version', 'namespace', '_unique_id', '_msg_id', '_reply_q', '_timeout', '_context_request_id', '_context_user', '_context_roles', '_context_x'];
const REPLY_Q = `reply_${'ab'.repeat(16)}`;

/** One AMQP body: the generator picks a kind, from a sane request with odd values to bytes. */
function message(g: Gen): Buffer | string {
  const kind = g.int(10);
  if (kind === 0) return Buffer.from(Array.from({ length: g.int(64) }, () => g.int(256)));
  if (kind === 1) return JSON.stringify(g.value(4));
  if (kind === 2) {
    const inner = `{"method":"ping","args":{"domain":${g.nestedText(g.chance(0.05) ? 300_000 : g.pick([30, 31, 32, 33, 1000, 20_000]))}}}`;
    return g.chance(0.5) ? inner : JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': inner });
  }
  if (kind === 3) return encodeEnvelope({ ...g.object(3, ENVELOPE_KEYS) });
  if (kind === 4) return JSON.stringify({ 'oslo.version': g.value(1), 'oslo.message': g.chance(0.5) ? JSON.stringify(g.value(3)) : g.value(2) });
  // A request that mostly parses, with any field now and then replaced by something odd.
  const method = g.chance(0.9) ? g.pick(METHODS) : g.value(1);
  const inner: Record<string, unknown> = {
    method,
    args: g.chance(0.9) ? argsFor(g, String(method)) : g.value(2),
    version: g.chance(0.8) ? '1.0' : g.value(1),
    _unique_id: g.chance(0.8) ? `u${g.int(1e9)}` : g.value(1),
    _context_request_id: g.chance(0.8) ? `req-${g.int(1e9)}` : g.value(1),
  };
  if (g.chance(0.5)) Object.assign(inner, { _msg_id: g.chance(0.8) ? `m${g.int(1e9)}` : g.value(1), _reply_q: g.chance(0.7) ? REPLY_Q : g.value(1) });
  if (g.chance(0.3)) inner['_timeout'] = g.value(1);
  if (g.chance(0.3)) Object.assign(inner, g.object(2, ['_context_user', '_context_roles', '_context_service_catalog', '_context_auth_token']));
  return g.chance(0.8) ? encodeEnvelope(inner) : JSON.stringify(inner);
}

/** Arguments each method accepts, for a start that is often right. */
const VALID_ARGS: Record<string, Record<string, unknown>> = {
  ping: {},
  backup: { domain: 'vm-fuzz' },
  list_backups: { domain: '0b5c3f5e-0000-4000-8000-000000000002' },
  get_backup: { domain: 'vm-fuzz', backup_id: '20240101T000000000Z-abcdef' },
  get_job: { job_id: '0b5c3f5e-0000-4000-8000-000000000003' },
  list_jobs: {},
  get_policy: { domain: 'vm-fuzz' },
  set_policy: { project: 'p-fuzz', policy: { schedule: { interval_s: 60 } } },
};

function argsFor(g: Gen, method: string): Record<string, unknown> {
  const args: Record<string, unknown> = g.chance(0.6) ? { ...VALID_ARGS[method] } : {};
  for (let i = g.chance(0.4) ? 0 : g.int(4); i > 0; i--) {
    args[g.chance(0.9) ? g.pick(ARG_NAMES) : g.string()] = g.chance(0.6) ? g.pick(ARG_VALUES) : g.value(2);
  }
  if (method === 'set_policy' && g.chance(0.5)) args['policy'] = g.object(3, POLICY_NAMES);
  return args;
}

/** The API over fakes: one running domain `vm-fuzz` with a file disk; everything else unknown. */
function fakeApi(submitted: JobSubmission[]) {
  const domain = {
    name: 'vm-fuzz',
    uuid: '0b5c3f5e-0000-4000-8000-000000000001',
    runState: async () => 'running',
    xml: async () => `<domain><devices><disk type='file' device='disk'><driver type='qcow2'/><source file='/i/a.qcow2'/><target dev='vda'/></disk></devices></domain>`,
  } as unknown as HypervisorDomain;
  const deps = {
    host: 'fuzz-host',
    version: '0.0.0',
    hypervisor: {
      libvirtVersion: async () => '9.0.0',
      supportsBackupApi: async () => true,
      lookup: async (name: string) => {
        if (name === domain.name || name === domain.uuid) return domain;
        throw new DomainNotFound('no such domain');
      },
    },
    defaultEngine: 'auto',
    pending: { load: async () => null, userOf: async () => null },
    roles: ['compute'],
    replicas: { copiesOf: async () => new Map(), rpoSeconds: async () => null, worstRpo: async () => null, secondaryHolding: async () => null },
    askHome: async () => 'unreachable',
    policies: new Policies(
      { context: TEST_PARSE_CONTEXT, facts: TEST_FACTS, defaults: null },
      new PolicyStore(mkdtempSync(join(tmpdir(), 'vdr-fuzz-policies-')), TEST_PARSE_CONTEXT, pino({ level: 'silent' })),
    ),
    repo: {
      opensInPlace: true,
      listPoints: async () => [],
      listDomains: async () => [],
      latestPoint: async () => null,
      hasPoint: async () => false,
      listInvalidPoints: async () => [],
      scanPoints: async () => ({ points: [], invalid: [] }),
      getPoint: async () => {
        throw new JobNotFound('no such point');
      },
    },
    jobs: {
      assertCanAccept: () => {},
      submit: async (s: JobSubmission) => {
        submitted.push(s);
        return { job_id: `job-${submitted.length}` };
      },
      waitFor: async () => ({ job_id: 'j', state: 'succeeded' }),
      get: () => {
        throw new JobNotFound('no such job');
      },
      list: () => [],
    },
    places: { admit: async () => undefined, scan: async () => ({ points: [], invalid: [] }) },
    onPolicyChange: () => undefined,
    scheduleOf: async () => null,
  } as unknown as ApiDeps;
  return createApi(deps);
}

/** The bounds every parsed request keeps (REQUEST_LIMITS). */
function expectBounded(request: RpcRequest): void {
  expect(request.method.length).toBeLessThanOrEqual(REQUEST_LIMITS.nameChars);
  for (const id of [request.uniqueId, request.msgId, request.requestId]) expect((id ?? '').length).toBeLessThanOrEqual(REQUEST_LIMITS.idChars);
  if (request.replyQueue !== null) expect(request.replyQueue).toMatch(/^reply_[0-9a-f]{32}$/);
  expect(JSON.stringify(sanitizeContext(request.context)).length).toBeLessThanOrEqual(MAX_KEPT_CONTEXT_CHARS);
}

function expectSmallFailure(error: VirtDrError, method: string | null): void {
  expect(error.message.length).toBeLessThanOrEqual(MAX_MESSAGE_CHARS);
  expect(JSON.stringify(failureOf(error, method)).length).toBeLessThanOrEqual(MAX_FAILURE_CHARS);
}

describe('fuzzing the bus edge', () => {
  it(`${MESSAGES} generated messages end in a request or a typed error, small and fast`, { timeout: 120_000 }, async () => {
    const g = new Gen(SEED);
    const submitted: JobSubmission[] = [];
    const api = fakeApi(submitted);
    const tally = { parsed: 0, malformed: 0, answered: 0, refused: 0 };
    let slowest = 0;
    const rssBefore = process.memoryUsage().rss;

    for (let n = 0; n < MESSAGES; n++) {
      const body = message(g);
      const where = `seed ${SEED}, message ${n}`;
      const started = performance.now();
      const reading = readRequest(body);
      if (!reading.ok) {
        tally.malformed++;
        expect(reading.error, where).toBeInstanceOf(MalformedMessage);
        expectSmallFailure(reading.error, null);
        expect((reading.salvaged.requestId ?? '').length, where).toBeLessThanOrEqual(REQUEST_LIMITS.idChars);
        expect(JSON.stringify(sanitizeContext(reading.salvaged.context)).length, where).toBeLessThanOrEqual(MAX_KEPT_CONTEXT_CHARS);
        expect(() => parseRequest(body), where).toThrow(MalformedMessage);
      } else {
        tally.parsed++;
        const request = reading.request;
        expectBounded(request);
        try {
          const outcome = await api.dispatch(request);
          await outcome.result;
          tally.answered++;
        } catch (err) {
          if (!(err instanceof VirtDrError)) throw new Error(`${where}: ${request.method} threw ${String(err)}`);
          tally.refused++;
          expectSmallFailure(err, request.method);
        }
      }
      slowest = Math.max(slowest, performance.now() - started);
    }

    const rssGrowthMiB = (process.memoryUsage().rss - rssBefore) / MiB;
    console.log(`bus fuzz: ${JSON.stringify(tally)}, ${submitted.length} jobs submitted, slowest message ${slowest.toFixed(1)} ms, RSS +${rssGrowthMiB.toFixed(0)} MiB`);
    // Every kind of outcome was reached, so the generator explores more than the envelope.
    expect(Math.min(tally.parsed, tally.malformed, tally.answered, tally.refused)).toBeGreaterThan(100);
    expect(submitted.length).toBeGreaterThan(10);
    for (const s of submitted) {
      expect(JSON.stringify(s.context).length).toBeLessThanOrEqual(MAX_KEPT_CONTEXT_CHARS);
      expect(Object.keys(s.context).filter((k) => /token|password|secret/i.test(k))).toEqual([]);
      expect(JSON.stringify(s.args).length).toBeLessThan(MAX_MESSAGE_CHARS);
    }
    expect(slowest).toBeLessThan(2000);
    expect(rssGrowthMiB).toBeLessThan(512);
  });
});
