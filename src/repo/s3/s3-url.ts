import { InvalidArgument } from '../../errors.js';

/**
 * `s3://bucket/prefix`, read strictly into its parts once. The prefix is the repository's
 * root: every key the target writes is `<prefix>/<uuid>/<backup-id>/<file>`, the file
 * layout, so it is held to the plain characters a folder path would be.
 */
export interface S3Address {
  bucket: string;
  /** Without leading or trailing slash; '' when the repository is the bucket's root. */
  prefix: string;
}

// S3's rules for a bucket name that works path-style everywhere: 3-63 lower-case letters,
// digits, '.' and '-', starting and ending with a letter or digit, no '..', not an address.
const BUCKET = /^(?!\d+\.\d+\.\d+\.\d+$)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PREFIX_PART = /^[A-Za-z0-9_][A-Za-z0-9._+-]{0,254}$/;

export function parseS3Url(url: string): S3Address {
  const refuse = (why: string) => new InvalidArgument(`repository URL refused: ${why}; expected s3://bucket[/prefix]`);
  if (!url.startsWith('s3://')) throw refuse('not an s3:// URL');
  const rest = url.slice('s3://'.length);
  if (/[?#@]/.test(rest)) throw refuse('it carries a query, a fragment or credentials; the keys go in repo.s3');
  const [bucket = '', ...parts] = rest.split('/');
  if (!BUCKET.test(bucket)) throw refuse('the bucket name must be 3-63 lower-case letters, digits, "." or "-"');
  if (parts.at(-1) === '') parts.pop();
  if (!parts.every((p) => PREFIX_PART.test(p))) {
    throw refuse('each part of the prefix must be letters, digits, ".", "_", "+" or "-", not starting with "."');
  }
  return { bucket, prefix: parts.join('/') };
}

/** The URL as logs and replies show it (an S3Address holds nothing secret). */
export function s3Location(address: S3Address): string {
  return `s3://${address.bucket}${address.prefix === '' ? '' : `/${address.prefix}`}`;
}
