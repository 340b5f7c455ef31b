import { Writable } from 'node:stream';

/** A stream that keeps what is written to it, posing as a terminal of `columns` when asked (unit tests). */
export class CollectingStream extends Writable {
  readonly chunks: string[] = [];
  readonly isTTY: boolean;
  readonly columns: number | undefined;

  constructor(terminal: { columns: number } | null) {
    super({ decodeStrings: false });
    this.isTTY = terminal !== null;
    this.columns = terminal?.columns;
  }

  get text(): string {
    return this.chunks.join('');
  }

  override _write(chunk: unknown, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.chunks.push(String(chunk));
    done();
  }
}
