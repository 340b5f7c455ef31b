import type { RequestedMode } from '../backup/request.js';
import type { PolicyPoint } from './chains.js';

/**
 * The mode of the next scheduled backup under `chain_length`. A long chain makes every
 * restore read more layers and every layer a single point of failure, so after
 * `chain_length` incrementals the next backup starts a new chain with a full. Otherwise
 * 'auto': the engine still takes a full when it must (no usable checkpoint, a changed disk).
 *
 * `openChain` is the fast tier's open chain (`openChainOf`). None (the domain's first
 * backup, or its chain moved to slow after T2) also means a full: a new incremental must
 * not extend a point in another tier, or a chain would be half in both.
 */
export interface NextMode {
  mode: RequestedMode;
  /** Why a full, when the policy asks for one; null for 'auto'. */
  reason: string | null;
}

export function modeForNextBackup(openChain: readonly PolicyPoint[] | null, chainLength: number): NextMode {
  if (openChain === null || openChain.length === 0) return { mode: 'full', reason: 'the fast tier has no open chain' };
  const incrementals = openChain.filter((p) => p.mode === 'incremental').length;
  // 0: unlimited; the chain grows as long as the engine can extend it.
  if (chainLength > 0 && incrementals >= chainLength) return { mode: 'full', reason: `chain_length ${chainLength} reached` };
  return { mode: 'auto', reason: null };
}
