import { join } from 'node:path';
import type { Logger } from 'pino';
import { InvalidArgument, PolicyCorrupt } from '../errors.js';
import { quote } from '../util/clip.js';
import { DomainRecordStore, KeyedRecordStore } from '../util/domain-records.js';
import { isProjectId } from '../util/ids.js';
import { parsePolicyLayer, type PolicyLayer, type PolicyParseContext } from './parse-policy.js';

/** The layer a store holds: a domain's (by UUID) or a project's (by Keystone id). */
export type StoredScope = { domain: string } | { project: string };

/** A policy file is a few hundred bytes; anything near this is not one. */
const MAX_POLICY_FILE_BYTES = 64 << 10;

/**
 * The policy layers set over the bus, under `<state.path>/policies/`:
 * `domains/<uuid>.json` and `projects/<project id>.json`, replaced atomically, mode 0600.
 * Each file is parsed on read with the parser set_policy uses, so a file damaged on disk,
 * or one naming a target the configuration no longer has, is refused (PolicyCorrupt,
 * logged) rather than run by.
 */
export class PolicyStore {
  private readonly domains: DomainRecordStore<PolicyLayer>;
  private readonly projects: KeyedRecordStore<PolicyLayer>;

  constructor(
    statePath: string,
    context: PolicyParseContext,
    private readonly log: Logger,
  ) {
    const parse = (text: string, file: string): PolicyLayer => parseStored(text, file, context);
    const options = { maxBytes: MAX_POLICY_FILE_BYTES, fileMode: 0o600 };
    this.domains = new DomainRecordStore(join(statePath, 'policies', 'domains'), parse, options);
    this.projects = new KeyedRecordStore(join(statePath, 'policies', 'projects'), PROJECT_IDS, parse, options);
  }

  /** The layer stored for `scope`, or null. */
  async load(scope: StoredScope): Promise<PolicyLayer | null> {
    const [records, key] = this.recordsOf(scope);
    try {
      return await records.load(key);
    } catch (err) {
      if (err instanceof InvalidArgument) throw err;
      const corrupt = err instanceof PolicyCorrupt ? err : new PolicyCorrupt(`policy file ${records.path(key)} cannot be read: ${(err as Error).message}`, { cause: err });
      this.log.error({ ...scope, err: corrupt.message }, 'stored policy refused');
      throw corrupt;
    }
  }

  /** Stores `layer` for `scope`; an empty layer removes the file (the scope then sets nothing). */
  async save(scope: StoredScope, layer: PolicyLayer): Promise<void> {
    const [records, key] = this.recordsOf(scope);
    if (Object.keys(layer).length === 0) await records.remove(key);
    else await records.save(key, layer);
  }

  private recordsOf(scope: StoredScope): [KeyedRecordStore<PolicyLayer>, string] {
    return 'domain' in scope ? [this.domains, scope.domain] : [this.projects, scope.project];
  }
}

const PROJECT_IDS = { what: "project id (1-64 letters, digits, '_' or '-')", isKey: isProjectId, stem: (id: string) => id };

function parseStored(text: string, file: string, context: PolicyParseContext): PolicyLayer {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new PolicyCorrupt(`policy file ${file} is not JSON (${(err as Error).message}); set_policy replaces it`);
  }
  try {
    return parsePolicyLayer(value, `policy file ${file}`, context);
  } catch (err) {
    if (err instanceof InvalidArgument) throw new PolicyCorrupt(`${err.message}; set_policy replaces it`);
    throw err;
  }
}

/** A project id as a request names it: checked before it names a file. */
export function checkProjectId(method: string, value: string): string {
  if (!isProjectId(value)) throw new InvalidArgument(`${method}(): argument project ${quote(value)} is not a project id (1-64 letters, digits, '_' or '-')`);
  return value;
}
