import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

/** The endpoint could not listen: the agent does not start (a silent monitoring gap is worse). */
export class MetricsListenFailed extends Error {}

/**
 * A plain HTTP server with one resource: GET (or HEAD) /metrics answers the registry in
 * Prometheus' text format; any other path is 404 and any other method 405. It reads
 * nothing from a request but its method and path.
 */
export class MetricsServer {
  private server: Server | null = null;

  constructor(
    private readonly registry: Registry,
    private readonly log: Logger,
  ) {}

  /** The port it listens on (the one the system chose when asked for 0); null when closed. */
  get port(): number | null {
    const bound = this.server?.address();
    return bound && typeof bound === 'object' ? bound.port : null;
  }

  /** Listens on `address:port`; rejects with MetricsListenFailed, saying why, when it cannot. */
  async listen(address: string, port: number): Promise<void> {
    const server = createServer((req, res) => void this.answer(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(new MetricsListenFailed(listenProblem(err, address, port))));
      server.listen(port, address, () => resolve());
    });
    server.on('error', (err) => this.log.error({ err: err.message }, 'metrics server error'));
    this.server = server;
    this.log.info({ address, port }, 'metrics served at /metrics');
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // A scraper's keep-alive connection would hold close() until it idles out.
    server.closeAllConnections();
    await closed;
  }

  private async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') return end(res, 404, 'not found: the metrics are at /metrics\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return end(res, 405, 'method not allowed\n');
    }
    try {
      const body = await this.registry.metrics();
      res.writeHead(200, { 'Content-Type': this.registry.contentType });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'metrics scrape failed');
      end(res, 500, 'the metrics could not be collected\n');
    }
  }
}

function end(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(text);
}

function listenProblem(err: NodeJS.ErrnoException, address: string, port: number): string {
  const where = `${address}:${port}`;
  switch (err.code) {
    case 'EADDRINUSE':
      return `metrics.port ${port} is already in use on ${address}: stop what listens there or choose another metrics.port (0 turns /metrics off)`;
    case 'EADDRNOTAVAIL':
      return `metrics.address ${address} is not an address of this host`;
    case 'EACCES':
      return `no permission to listen on ${where} for /metrics (ports below 1024 need privileges)`;
    default:
      return `cannot listen on ${where} for /metrics: ${err.message}`;
  }
}
