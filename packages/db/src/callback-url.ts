import { isIP } from 'node:net';

/** How subscription URLs are checked. */
export interface CallbackUrlPolicy {
  /** Only `https` (except on loopback hosts); on when NODE_ENV=production. @defaultValue false */
  readonly requireHttps?: boolean;
}

/** Longest subscription URL accepted. */
export const CALLBACK_URL_MAX_LENGTH = 2048;

/** `localhost`, `*.localhost`, 127.0.0.0/8 and ::1: this machine. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}

/**
 * What is wrong with `raw` as a callback URL, or `null` when it may be used: it must be an
 * absolute `http` or `https` URL without user name or password (those would sit in the
 * database unencrypted: put a token in the query string or rely on the signature), and `https`
 * when the policy requires it, loopback hosts excepted. The answer never repeats the URL.
 *
 * @example callbackUrlProblem('ftp://example.com') // 'must be an http or https URL'
 */
export function callbackUrlProblem(raw: string, policy: CallbackUrlPolicy = {}): string | null {
  if (raw.length > CALLBACK_URL_MAX_LENGTH) return `must be at most ${CALLBACK_URL_MAX_LENGTH} characters long`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an absolute URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http or https URL';
  if (!/^https?:\/\//i.test(raw)) return 'must be an http or https URL';
  if (url.username !== '' || url.password !== '') return 'must not carry a user name or password';
  if (url.hash !== '') return 'must not have a fragment';
  if (policy.requireHttps && url.protocol !== 'https:' && !isLoopbackHost(url.hostname)) return 'must be an https URL (NODE_ENV=production; only loopback hosts may use http)';
  return null;
}
