import { createHash } from 'node:crypto';
import type { CommunicationRequest } from './communication-request';

/**
 * JSON with object keys sorted at every depth, so that two bodies that differ only in key
 * order serialise identically.
 *
 * @example canonicalJson({ b: 1, a: [ { d: 2, c: 3 } ] }) // '{"a":[{"c":3,"d":2}],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value as Record<string, unknown>)
        .sort()
        .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}

/**
 * A fingerprint of a validated request (defaults applied, idempotency key left out) so that a
 * retry with the same key can be told apart from a different request that reuses the key.
 * Attachment ids count, in their order; an empty `attachments` list is left out, so a request
 * without attachments keeps the hash it had before the field existed (hashes stored earlier
 * still match their retries).
 *
 * @example requestHash(a) === requestHash({ ...a, idempotencyKey: 'other' }) // true
 */
export function requestHash(request: CommunicationRequest): string {
  const { idempotencyKey: _key, attachments, ...rest } = request;
  const hashed = attachments.length > 0 ? { ...rest, attachments } : rest;
  return createHash('sha256').update(canonicalJson(hashed)).digest('hex');
}
