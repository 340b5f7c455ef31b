import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Paths pino masks wherever they appear in a log line. The bus URL carries RabbitMQ's
 * password, a request's context may carry a Keystone token, and the configuration an S3
 * secret key (parsed, it is a util/secret.ts Secret): none is ever written.
 */
const REDACTED_PATHS = [
  'password',
  '*.password',
  'url',
  '*.url',
  'bus.url',
  'config.bus.url',
  'context.auth_token',
  'context.token',
  '*.auth_token',
  'secret_key',
  '*.secret_key',
  '*.*.secret_key',
];

/**
 * The root logger. JSON lines for journald and log shippers; human-readable only when a
 * person is watching a terminal. Jobs log through `jobLogger` so every line of a job
 * carries its job_id and request_id.
 */
export function createRootLogger(level: string, destination?: pino.DestinationStream): Logger {
  const pretty = destination === undefined && process.stdout.isTTY === true;
  return pino(
    {
      level,
      base: { service: 'virt-dr-agent' },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true } } } : {}),
    },
    destination,
  );
}

export function jobLogger(
  root: Logger,
  job: { job_id: string; request_id: string | null; domain: string | null; action: string },
): Logger {
  return root.child({
    job_id: job.job_id,
    request_id: job.request_id,
    domain: job.domain,
    action: job.action,
  });
}

const SCHEME_AND_REST = /^([A-Za-z][A-Za-z0-9+.-]*:)\/\/(.*)$/s;
const HOST_AND_PORT = /^[A-Za-z0-9.-]+(:\d+)?$|^\[[0-9A-Fa-f:.]+\](:\d+)?$/;

/**
 * `amqp://user:secret@host/` becomes `amqp://user:***@host/`, for messages that name a URL.
 *
 * Everything before the last `@` may be a password. When the URL does not parse, or parses
 * into something other than what its last `@` says (a password with `/`, `?` or `#` ends
 * the authority early: `amqp://u:1234/5@host` reads as port 1234), only the scheme and the
 * host after the last `@` are shown, or the scheme alone.
 */
export function redactUrl(url: string): string {
  const m = SCHEME_AND_REST.exec(url);
  if (!m) return '(a URL that does not parse)';
  const scheme = m[1]!;
  const rest = m[2]!;
  const at = rest.lastIndexOf('@');
  const userinfo = at < 0 ? '' : rest.slice(0, at);
  if (!/[/?#]/.test(userinfo)) {
    try {
      const parsed = new URL(url);
      if (parsed.password) parsed.password = '***';
      return parsed.toString();
    } catch {
      /* shown by its scheme and host below */
    }
  }
  const host = at < 0 ? '' : (rest.slice(at + 1).split(/[/?#]/)[0] ?? '');
  return HOST_AND_PORT.test(host) ? `${scheme}//***@${host}` : `${scheme}//***`;
}
