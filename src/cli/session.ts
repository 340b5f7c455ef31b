import { loadConfig } from '../config.js';
import { RpcClient } from '../bus/rpc-client.js';
import type { ProgressStream } from './progress/view.js';
import { renderRecord, renderTable, type Column } from './table.js';

/** The options every command takes (commander's parsed globals, typed once here). */
export interface GlobalOptions {
  config?: string;
  host?: string;
  output: 'table' | 'wide' | 'json';
  /** Seconds: a call's reply, or a --wait's whole follow. */
  timeout?: number;
}

export interface CliStreams {
  out: ProgressStream;
  /** A terminal too, when it is one: --json's progress is drawn here. */
  err: ProgressStream;
}

/** How long a call waits for its reply when --timeout is not given. */
const DEFAULT_CALL_TIMEOUT_MS = 60_000;

/**
 * One command's link to the agents: the bus client (connected on first use, with the
 * agent's own configuration), the host it addresses, and how its answers are printed.
 */
export class CliSession {
  private client: Promise<RpcClient> | null = null;

  constructor(
    readonly options: GlobalOptions,
    readonly streams: CliStreams,
  ) {}

  get json(): boolean {
    return this.options.output === 'json';
  }

  get wide(): boolean {
    return this.options.output === 'wide';
  }

  /** `{server}` for a call to one agent's queue (--host), `{}` for any agent on the topic. */
  get server(): { server?: string } {
    return this.options.host ? { server: this.options.host } : {};
  }

  get callTimeoutMs(): number {
    return this.options.timeout !== undefined ? this.options.timeout * 1000 : DEFAULT_CALL_TIMEOUT_MS;
  }

  bus(): Promise<RpcClient> {
    this.client ??= this.connect();
    return this.client;
  }

  async call<T>(method: string, args: Record<string, unknown>): Promise<T> {
    return (await this.bus()).call<T>(method, args, { timeoutMs: this.callTimeoutMs, ...this.server });
  }

  /** The answer as the protocol sent it with --json; else the table of its rows. */
  printTable<Row>(answer: unknown, rows: readonly Row[], columns: readonly Column<Row>[]): void {
    if (this.json) this.printJson(answer);
    else this.write(renderTable(columns, rows));
  }

  /** The answer as the protocol sent it with --json; else one `key  value` line per field. */
  printRecord(answer: Record<string, unknown>, human?: () => string[]): void {
    if (this.json) this.printJson(answer);
    else this.write(human?.() ?? renderRecord(answer));
  }

  /** The protocol's objects as the agent sent them, for scripts. */
  printJson(value: unknown): void {
    this.write([JSON.stringify(value, null, 2)]);
  }

  write(lines: readonly string[]): void {
    this.streams.out.write(lines.map((line) => `${line}\n`).join(''));
  }

  async close(): Promise<void> {
    if (this.client) await (await this.client.catch(() => null))?.close();
  }

  private async connect(): Promise<RpcClient> {
    const config = loadConfig({ file: this.options.config, env: process.env });
    return RpcClient.connect({
      url: config.bus.url,
      exchange: config.bus.exchange,
      topic: config.bus.topic,
      notificationTopic: config.bus.notification_topics[0] ?? 'notifications',
      durableExchange: config.bus.amqp_durable_queues || config.bus.rabbit_quorum_queue,
    });
  }
}
