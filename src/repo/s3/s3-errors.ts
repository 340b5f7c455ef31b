import { TargetOperationFailed, TargetRefused, TargetUnreachable, VirtDrError } from '../../errors.js';

/**
 * What an S3 call's failure means to the agent, as a typed error that names the target
 * and the step, never a key or a secret:
 * - TargetRefused: the service answered and will go on refusing until the operator acts
 *   (wrong keys, no access, no such bucket: the agent never creates one);
 * - TargetUnreachable: no answer (refused connection, timeout, reset), worth retrying;
 * - TargetOperationFailed: any other answer, such as a server error.
 * A cancelled call rethrows its signal's reason (JobCancelled).
 */
const REFUSED_CREDENTIALS = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'InvalidToken', 'ExpiredToken', 'Forbidden']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'ECONNABORTED']);

export interface S3Where {
  /** The target's location, s3://bucket/prefix. */
  location: string;
  bucket: string;
  endpoint: string;
}

export function s3Failure(err: unknown, step: string, where: S3Where, signal?: AbortSignal): Error {
  if (signal?.aborted) return signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason));
  if (err instanceof VirtDrError) return err;
  const error = err as { name?: string; code?: string; message?: string; cause?: { code?: string }; $metadata?: { httpStatusCode?: number } };
  const name = error.name ?? 'Error';
  const status = error.$metadata?.httpStatusCode;
  const at = `${step} on ${where.location} (${where.endpoint})`;
  if (name === 'NoSuchBucket') {
    return new TargetRefused(`${at}: bucket ${where.bucket} does not exist; create it first (the agent never creates buckets)`, { cause: err });
  }
  if (REFUSED_CREDENTIALS.has(name) || status === 403) {
    // A HEAD's answer has no body, so no error code: only its status says why.
    const why = REFUSED_CREDENTIALS.has(name) ? name : `HTTP ${status}`;
    return new TargetRefused(`${at}: the service refused the agent's keys (${why}); check repo.s3.access_key and repo.s3.secret_key`, { cause: err });
  }
  const code = error.code ?? error.cause?.code;
  if ((code !== undefined && NETWORK_CODES.has(code)) || name === 'TimeoutError' || (status === undefined && name !== 'NoSuchKey' && name !== 'NotFound')) {
    return new TargetUnreachable(`${at}: no answer from the service (${code ?? name})`, { cause: err });
  }
  return new TargetOperationFailed(`${at}: ${name}${status ? ` (HTTP ${status})` : ''}: ${error.message ?? ''}`.trimEnd(), { cause: err });
}

export function isNotFound(err: unknown): boolean {
  const error = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return error.name === 'NoSuchKey' || error.name === 'NotFound' || (error.$metadata?.httpStatusCode === 404 && error.name !== 'NoSuchBucket');
}
