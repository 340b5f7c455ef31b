import type { BackupKind, BackupMode, EngineName } from '../repo/point.js';
import type { QuiescePolicy } from './quiesce.js';

export type RequestedMode = 'auto' | BackupMode;
export type EngineChoice = 'auto' | EngineName;

/** A backup request, parsed once at the bus edge. */
export interface BackupRequest {
  mode: RequestedMode;
  quiesce: QuiescePolicy;
  kind: BackupKind;
  /** The request's `engine`, or null for the agent's configured `backup.engine`. */
  engine: EngineChoice | null;
  excludeDisks: string[];
}
