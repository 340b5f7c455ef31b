import type { Logger } from 'pino';
import type { ProgressSink } from '../jobs/progress.js';

/** What the job runner hands an operation: its own logger, signal, progress and journal. */
export interface OperationContext<Checkpoint> {
  log: Logger;
  signal: AbortSignal;
  progress: ProgressSink;
  /** Persists recovery detail to the journal; resolves once it is on disk. */
  checkpoint(detail: Checkpoint): Promise<void>;
}
