import type { Logger } from 'pino';

/** What the job runner hands an operation: its own logger, signal, progress and journal. */
export interface OperationContext<Checkpoint> {
  log: Logger;
  signal: AbortSignal;
  progress: { setTotal(bytes: number): void; add(bytes: number): void };
  /** Persists recovery detail to the journal; resolves once it is on disk. */
  checkpoint(detail: Checkpoint): Promise<void>;
}
