import { createHmac, timingSafeEqual } from 'node:crypto';
import { CrmSignatureError } from './errors';
import type { CrmEvent } from './types';

/** How far from now a signature's timestamp may be, by default (seconds). */
export const DEFAULT_SIGNATURE_TOLERANCE_SECONDS = 300;

/** The headers the engine sends with every event (lower case, as Node presents them). */
export const CRM_SIGNATURE_HEADER = 'crm-signature';
export const CRM_EVENT_ID_HEADER = 'crm-event-id';
export const CRM_EVENT_TYPE_HEADER = 'crm-event-type';

const toBuffer = (body: string | Uint8Array): Buffer =>
  typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body.buffer, body.byteOffset, body.byteLength);

const unixSeconds = (time: Date | number): number => Math.floor((typeof time === 'number' ? time : time.getTime()) / 1000);

function hmac(secret: string, timestamp: number, body: string | Uint8Array): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.`, 'utf8').update(toBuffer(body)).digest();
}

/**
 * The `crm-signature` header of an event: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
 * The engine's callback worker signs this way; tests and local stand-ins of the engine use it too.
 *
 * @example
 * const signature = signCrmEvent({ secret: 'whsec_…', body: JSON.stringify(event) });
 * // 't=1764000000,v1=5f0c…'
 */
export function signCrmEvent(input: {
  secret: string;
  /** The exact bytes that are sent. */
  body: string | Uint8Array;
  /** Unix seconds, or a Date; default now. */
  timestamp?: number | Date;
}): string {
  const t = input.timestamp === undefined ? unixSeconds(Date.now()) : typeof input.timestamp === 'number' ? Math.floor(input.timestamp) : unixSeconds(input.timestamp);
  return `t=${t},v1=${hmac(input.secret, t, input.body).toString('hex')}`;
}

interface ParsedSignature {
  timestamp: number;
  signatures: Buffer[];
}

function parseSignatureHeader(header: string): ParsedSignature {
  let timestamp: number | undefined;
  const signatures: Buffer[] = [];
  for (const part of header.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const equals = item.indexOf('=');
    if (equals <= 0) throw new CrmSignatureError('malformed', 'crm-signature: each part must be key=value');
    const key = item.slice(0, equals);
    const value = item.slice(equals + 1);
    if (key === 't') {
      if (timestamp !== undefined || !/^\d{1,12}$/.test(value)) throw new CrmSignatureError('malformed', 'crm-signature: t must be one unix time in seconds');
      timestamp = Number(value);
    } else if (key === 'v1') {
      if (!/^[0-9a-fA-F]{64}$/.test(value)) throw new CrmSignatureError('malformed', 'crm-signature: v1 must be 64 hex digits');
      signatures.push(Buffer.from(value, 'hex'));
    }
    // Other schemes (v0, a future v2) are ignored, as receivers of versioned signatures do.
  }
  if (timestamp === undefined) throw new CrmSignatureError('malformed', 'crm-signature: t is missing');
  if (signatures.length === 0) throw new CrmSignatureError('malformed', 'crm-signature: no v1 signature');
  return { timestamp, signatures };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Checks that an event POSTed to your callback URL comes from the engine, and returns it.
 * Give it the **raw** body (the exact bytes received, before any JSON parsing) and the
 * `crm-signature` header. It recomputes the HMAC-SHA256 of `"<t>.<body>"` with your
 * subscription's secret, compares it in constant time with every `v1=` value of the header
 * (during a secret rotation several may be present: one matching is enough), and refuses a
 * timestamp more than `toleranceSeconds` away from now. Deduplicate on the event's `id`.
 *
 * Throws {@link CrmSignatureError} (`reason`: `missing`, `malformed`, `mismatch`, `too_old`).
 *
 * @example
 * const event = verifyCrmEvent({ secret: process.env.CRM_CALLBACK_SECRET!, body: rawBody, signature: req.headers['crm-signature'] });
 * if (event.type === 'client.replied') console.log(event.data.selection);
 */
export function verifyCrmEvent(input: {
  /** The subscription's secret (`whsec_…`); several during a rotation. */
  secret: string | readonly string[];
  body: string | Uint8Array;
  /** The `crm-signature` header as received (Node may give an array when it was repeated). */
  signature: string | readonly string[] | null | undefined;
  /** The time to check against: a Date or epoch milliseconds; default now. */
  now?: Date | number;
  /** Default 300 seconds. */
  toleranceSeconds?: number;
}): CrmEvent {
  const header = typeof input.signature === 'string' ? input.signature : (input.signature ?? []).join(',');
  if (header.trim() === '') throw new CrmSignatureError('missing', 'the crm-signature header is missing');
  const { timestamp, signatures } = parseSignatureHeader(header);

  const secrets = typeof input.secret === 'string' ? [input.secret] : input.secret;
  if (secrets.length === 0 || secrets.some((secret) => secret === '')) throw new TypeError('verifyCrmEvent: secret must be a non-empty string');
  let matched = false;
  for (const secret of secrets) {
    const expected = hmac(secret, timestamp, input.body);
    // Every comparison runs, so the time taken does not tell which value matched.
    for (const signature of signatures) if (timingSafeEqual(expected, signature)) matched = true;
  }
  if (!matched) throw new CrmSignatureError('mismatch', 'crm-signature: no v1 signature matches this body and secret');

  const tolerance = input.toleranceSeconds ?? DEFAULT_SIGNATURE_TOLERANCE_SECONDS;
  const now = unixSeconds(input.now ?? Date.now());
  if (Math.abs(now - timestamp) > tolerance) {
    throw new CrmSignatureError('too_old', `crm-signature: signed ${now - timestamp} s from now, more than ${tolerance} s`);
  }

  let event: unknown;
  try {
    event = JSON.parse(toBuffer(input.body).toString('utf8'));
  } catch {
    throw new CrmSignatureError('malformed', 'the body is not JSON');
  }
  if (!isRecord(event) || typeof event.id !== 'string' || typeof event.type !== 'string' || typeof event.createdAt !== 'string' || !isRecord(event.data)) {
    throw new CrmSignatureError('malformed', 'the body is not an event ({ id, type, createdAt, data })');
  }
  return event as unknown as CrmEvent;
}
