import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Tracking and unsubscribe links of an email (issue 6): HMAC-signed tokens, the rewrite of an
 * email's HTML for open and click tracking, the RFC 8058 `List-Unsubscribe` headers, and the
 * heuristics that flag an open as a likely machine open. Pure functions: the ingest routes
 * `/t/o/:token`, `/t/c/:token` and `/u/:token` verify what the email worker signs here.
 */

/** What a token is for: `o` the open pixel, `c` a click, `u` an unsubscribe. */
export type TrackingKind = 'o' | 'c' | 'u';

/**
 * What a token carries: its kind, the communication id, and (clicks only) the URL the click
 * redirects to. Nothing personal: ids and our own template's links.
 */
export interface TrackingPayload {
  readonly k: TrackingKind;
  /** The communication id (a UUID). */
  readonly c: string;
  /** Clicks only: the absolute https URL the redirect goes to. */
  readonly u?: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A token: base64url(JSON) '.' base64url(32-byte HMAC). */
const TOKEN = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{43})$/;
/** Longer tokens are refused before any work (a click URL of a few KB is already unusual). */
const MAX_TOKEN_LENGTH = 8192;
/** Domain separation: the MAC covers this prefix too, so a future format cannot be confused with this one. */
const MAC_PREFIX = 'crm-engine.tracking.v1.';

function isHttpsUrl(value: string): boolean {
  if (!/^https:\/\//i.test(value)) return false;
  try {
    return new URL(value).protocol === 'https:';
  } catch {
    return false;
  }
}

/** Why `payload` is not one we sign, or `null` when it is fine. */
function payloadProblem(payload: TrackingPayload): string | null {
  if (payload.k !== 'o' && payload.k !== 'c' && payload.k !== 'u') return 'k must be o, c or u';
  if (typeof payload.c !== 'string' || !UUID.test(payload.c)) return 'c must be a communication id (a UUID)';
  if (payload.k === 'c') {
    if (typeof payload.u !== 'string' || !isHttpsUrl(payload.u)) return 'u must be an absolute https URL';
  } else if (payload.u !== undefined) return 'u belongs to click tokens only';
  return null;
}

function mac(secret: string, body: string): string {
  return createHmac('sha256', secret).update(MAC_PREFIX + body).digest('base64url');
}

function assertSecret(secret: string): void {
  if (typeof secret !== 'string' || secret.length === 0) throw new TypeError('tracking: the secret must be a non-empty string');
}

/**
 * Signs `payload` into a URL-safe token: `base64url(JSON) + '.' + base64url(HMAC-SHA256)`.
 * Throws a `TypeError` for a payload that {@link verifyTrackingToken} would refuse.
 *
 * @example
 * const token = signTrackingToken(secret, { k: 'c', c: communicationId, u: 'https://example.com/plan' });
 * // `${baseUrl}/t/c/${token}` redirects to https://example.com/plan
 */
export function signTrackingToken(secret: string, payload: TrackingPayload): string {
  assertSecret(secret);
  const problem = payloadProblem(payload);
  if (problem) throw new TypeError(`signTrackingToken: ${problem}`);
  // A fixed key order, and nothing but the three fields.
  const canonical = payload.k === 'c' ? { k: payload.k, c: payload.c, u: payload.u } : { k: payload.k, c: payload.c };
  const body = Buffer.from(JSON.stringify(canonical), 'utf8').toString('base64url');
  return `${body}.${mac(secret, body)}`;
}

/**
 * The payload of a token signed with `secret`, or `null` for anything else: malformed, any
 * changed character in the payload or the signature, a payload of the wrong shape, or (with
 * `kind`) a token of another kind, such as an open token presented as a click. The signature is
 * compared in constant time.
 *
 * @example
 * verifyTrackingToken(secret, token, 'c') // { k: 'c', c: '…', u: 'https://example.com/plan' }
 * verifyTrackingToken(secret, token.slice(0, -1) + 'A') // null
 */
export function verifyTrackingToken(secret: string, token: string, kind?: TrackingKind): TrackingPayload | null {
  assertSecret(secret);
  if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) return null;
  const match = TOKEN.exec(token);
  if (!match) return null;
  const [, body = '', signature = ''] = match;
  // Compared as the encoded text, not the decoded bytes: base64url decoding ignores the spare
  // bits of the last character, so two spellings of one MAC must not both pass.
  const expected = Buffer.from(mac(secret, body), 'utf8');
  const given = Buffer.from(signature, 'utf8');
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return null;

  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return null;
  const keys = Object.keys(parsed);
  if (keys.some((key) => key !== 'k' && key !== 'c' && key !== 'u')) return null;
  const payload = parsed as TrackingPayload;
  if (payloadProblem(payload) !== null) return null;
  if (kind !== undefined && payload.k !== kind) return null;
  return payload.k === 'c' ? { k: 'c', c: payload.c, u: payload.u as string } : { k: payload.k, c: payload.c };
}

/** `baseUrl` without trailing slashes. */
const trimBase = (baseUrl: string): string => baseUrl.replace(/\/+$/, '');

/**
 * The unsubscribe link of a communication (the footer link and the https `List-Unsubscribe`
 * target): `${baseUrl}/u/<token>`.
 *
 * @example unsubscribeUrl('https://crm.example.com', secret, id) // 'https://crm.example.com/u/eyJr….Xb9…'
 */
export function unsubscribeUrl(baseUrl: string, secret: string, communicationId: string): string {
  return `${trimBase(baseUrl)}/u/${signTrackingToken(secret, { k: 'u', c: communicationId })}`;
}

export interface ListUnsubscribeOptions {
  /** Public URL of the ingest service (`PUBLIC_BASE_URL`); https in production (RFC 8058 requires it). */
  readonly baseUrl: string;
  readonly secret: string;
  readonly communicationId: string;
  /** The address of the mailto: alternative (`UNSUBSCRIBE_MAILTO`). */
  readonly mailto: string;
}

/** The two RFC 8058 headers. */
export interface ListUnsubscribeHeaders {
  readonly 'List-Unsubscribe': string;
  readonly 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click';
}

const MAILTO_ADDRESS = /^[^@\s<>,?&"]+@[^@\s<>,?&"]+$/;

/**
 * `List-Unsubscribe` (the https one-click URL first, then a mailto: whose subject carries the
 * same token) and `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058). For one-click
 * to be honoured, the message's DKIM signature must cover both headers.
 *
 * @example
 * listUnsubscribeHeaders({ baseUrl: 'https://crm.example.com', secret, communicationId: id, mailto: 'unsubscribe@example.com' })
 * // { 'List-Unsubscribe': '<https://crm.example.com/u/TOKEN>, <mailto:unsubscribe@example.com?subject=unsubscribe-TOKEN>',
 * //   'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' }
 */
export function listUnsubscribeHeaders(options: ListUnsubscribeOptions): ListUnsubscribeHeaders {
  if (!MAILTO_ADDRESS.test(options.mailto)) throw new TypeError('listUnsubscribeHeaders: mailto must be a bare email address');
  const token = signTrackingToken(options.secret, { k: 'u', c: options.communicationId });
  return {
    'List-Unsubscribe': `<${trimBase(options.baseUrl)}/u/${token}>, <mailto:${options.mailto}?subject=unsubscribe-${token}>`,
    'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
  };
}

export interface InstrumentOptions {
  readonly communicationId: string;
  /** Public URL of the ingest service; links already under it (the unsubscribe link) are left alone. */
  readonly baseUrl: string;
  readonly secret: string;
  /** `false` (EMAIL_TRACKING=false): the HTML is returned unchanged. */
  readonly tracking: boolean;
}

/**
 * An `<a …>` start tag: `<a` then attributes, where a quoted value may contain `>`. The tag
 * name must end there (`<abbr>` is not a link).
 */
const ANCHOR_START_TAG = /<a(?=[\s>/])((?:[^>"']|"[^"]*"|'[^']*')*)>/gi;
/** One attribute of a start tag: its name, and its value double-, single- or unquoted. */
const ATTRIBUTE = /([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
const BODY_END_TAG = /<\/body\s*>/gi;

const NAMED_ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** An attribute value as the browser reads it (the entities a URL can contain). */
function decodeAttribute(value: string): string {
  return value.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (entity, name: string) => {
    if (name[0] === '#') {
      const code = name[1] === 'x' || name[1] === 'X' ? Number.parseInt(name.slice(2), 16) : Number.parseInt(name.slice(1), 10);
      return Number.isFinite(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : entity;
    }
    return NAMED_ENTITIES[name.toLowerCase()] ?? entity;
  });
}

const escapeAttribute = (value: string): string =>
  value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * `attributes` with the value of its (first) `href` replaced by `rewrite(value)`, or unchanged
 * when there is no href or `rewrite` answers `null`. Attributes are read one after the other,
 * so `href=` inside another attribute's quoted value is never taken for one.
 */
function rewriteHref(attributes: string, rewrite: (href: string) => string | null): string {
  for (const match of attributes.matchAll(ATTRIBUTE)) {
    const [whole, name = ''] = match;
    if (name.toLowerCase() !== 'href') continue;
    const raw = match[2] ?? match[3] ?? match[4];
    if (raw === undefined) return attributes;
    const next = rewrite(decodeAttribute(raw));
    if (next === null) return attributes;
    const at = match.index;
    return `${attributes.slice(0, at)}href="${escapeAttribute(next)}"${attributes.slice(at + whole.length)}`;
  }
  return attributes;
}

/** Whether `url` is `base` or below it (same origin, and the path starts with base's). */
function isUnder(url: URL, base: URL): boolean {
  if (url.origin !== base.origin) return false;
  const basePath = base.pathname.replace(/\/+$/, '');
  return basePath === '' || url.pathname === basePath || url.pathname.startsWith(`${basePath}/`);
}

/**
 * Adds open and click tracking to a rendered email: every `<a href="https://…">` becomes
 * `${baseUrl}/t/c/<token>` (the token signs the original URL, so the redirect can go nowhere
 * else), and a 1×1 pixel `${baseUrl}/t/o/<token>` goes just before `</body>` (once; at the
 * end when there is no `</body>`). Left alone: `mailto:`, `tel:`, `http:` and relative links,
 * and links already under `baseUrl` (the unsubscribe link). Only the `href` values of `<a>`
 * start tags change, byte for byte elsewhere, so MJML's output (conditional comments, VML,
 * inline styles) survives as it was.
 *
 * @example
 * instrumentEmailHtml(html, { communicationId: id, baseUrl: 'https://crm.example.com', secret, tracking: true })
 */
export function instrumentEmailHtml(html: string, options: InstrumentOptions): string {
  if (!options.tracking) return html;
  const base = trimBase(options.baseUrl);
  const baseUrl = new URL(`${base}/`);
  const sign = (payload: TrackingPayload) => signTrackingToken(options.secret, payload);

  const withLinks = html.replace(ANCHOR_START_TAG, (tag: string, attributes: string) => {
    const rewritten = rewriteHref(attributes, (href) => {
      const url = href.trim();
      if (!isHttpsUrl(url) || isUnder(new URL(url), baseUrl)) return null;
      return `${base}/t/c/${sign({ k: 'c', c: options.communicationId, u: url })}`;
    });
    return rewritten === attributes ? tag : `<a${rewritten}>`;
  });

  const pixelPrefix = `${base}/t/o/`;
  if (withLinks.includes(pixelPrefix)) return withLinks;
  const pixel =
    `<img src="${escapeAttribute(pixelPrefix + sign({ k: 'o', c: options.communicationId }))}" width="1" height="1" alt="" ` +
    'style="display:block;width:1px;height:1px;border:0;margin:0;padding:0;overflow:hidden;" />';
  const bodyEnds = [...withLinks.matchAll(BODY_END_TAG)];
  const last = bodyEnds.at(-1);
  if (!last) return withLinks + pixel;
  return withLinks.slice(0, last.index) + pixel + withLinks.slice(last.index);
}

/**
 * User agents that load the pixel without a person reading the message, or that hide who
 * did. Each rule says where its pattern comes from. Not identifiable by user agent, and so
 * left to the missing-user-agent and timing rules: Microsoft Defender Safe Links, which
 * fetches links at delivery with an ordinary Chrome user agent or none at all (reported in
 * https://github.com/edalzell/laravel-passwordless-login/issues/79), and most gateway
 * scanners that present a browser's user agent.
 */
export interface MachineUserAgentRule {
  /** Recorded with the open (`userAgentFamily`); never the user agent itself. */
  readonly family: string;
  readonly pattern: RegExp;
  /** Where the pattern comes from. */
  readonly source: string;
}

export const machineUserAgentRules: readonly MachineUserAgentRule[] = Object.freeze([
  {
    // Apple Mail Privacy Protection prefetches every remote image on delivery through Apple's
    // relays, whether or not the message is ever read, with the bare user agent "Mozilla/5.0".
    family: 'apple_mpp',
    pattern: /^Mozilla\/5\.0$/,
    source: 'https://github.com/ua-parser/uap-core/issues/509 (the UA is exactly "Mozilla/5.0" since 2021-09-20)',
  },
  {
    // "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)":
    // Gmail's caching image proxy. It loads on open as well as (reportedly) ahead of it, and
    // caches, so it hides whether and when a person read the message.
    family: 'gmail_image_proxy',
    pattern: /GoogleImageProxy|via ggpht\.com/i,
    source: 'https://github.com/browscap/browscap/issues/1108, https://github.com/faisalman/ua-parser-js/issues/494',
  },
  {
    // "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html": Yahoo and AOL
    // Mail's caching image proxy, which also retries fetches.
    family: 'yahoo_mail_proxy',
    pattern: /YahooMailProxy/i,
    source: 'https://github.com/ua-parser/uap-core/pull/333, https://github.com/faisalman/ua-parser-js/issues/494',
  },
  {
    // "Barracuda Sentinel (EE)": Barracuda's email-protection scanner (listed among filtered
    // bot user agents in Braze's click-filtering documentation).
    family: 'barracuda',
    pattern: /Barracuda/i,
    source: 'Braze documentation, bot filtering (example user agent "Barracuda Sentinel (EE)")',
  },
  {
    // Mimecast and Proofpoint URL and attachment protection: no published user agent; the vendor
    // name is matched when it appears (no mail client carries it), the rest is left to timing.
    family: 'mimecast',
    pattern: /Mimecast/i,
    source: 'vendor name; no published user agent',
  },
  {
    family: 'proofpoint',
    pattern: /Proofpoint/i,
    source: 'vendor name; no published user agent',
  },
  {
    // Microsoft Defender Safe Links, when it names itself. Not "Microsoft Office" or
    // "Outlook": Outlook desktop, a person reading, sends "Microsoft Office/16.0 (… Microsoft Outlook …)".
    family: 'microsoft_safe_links',
    pattern: /SafeLinks|Safe Links/i,
    source: 'vendor feature name; Safe Links usually presents a browser user agent or none (see above)',
  },
  {
    // HTTP libraries, crawlers and headless browsers: their own default user agents.
    family: 'automation',
    pattern: /HeadlessChrome|PhantomJS|Googlebot|bingbot|Slackbot|facebookexternalhit|python-requests|python-urllib|aiohttp|curl\/|Wget\/|Go-http-client|okhttp|axios\/|node-fetch|undici|libwww-perl|Java\/\d/i,
    source: 'the default user agents of these tools',
  },
] satisfies MachineUserAgentRule[]);

/** The family of a user agent: a rule's family, `other` (a mail client or browser) or `none`. */
export function userAgentFamily(userAgent: string | null | undefined): string {
  const ua = userAgent?.trim() ?? '';
  if (ua === '') return 'none';
  return machineUserAgentRules.find((rule) => rule.pattern.test(ua))?.family ?? 'other';
}

/** Why an open was (or was not) flagged. */
export type MachineOpenReason = 'missing_user_agent' | 'machine_user_agent' | 'not_sent_yet' | 'within_window' | 'none';

export interface MachineOpenInput {
  readonly userAgent: string | null | undefined;
  /** When the message was sent (`sent_at`); `null` when it is not recorded as sent yet. */
  readonly sentAt: Date | null;
  readonly openedAt: Date;
  /** An open sooner than this after sending is flagged, in ms (`MACHINE_OPEN_WINDOW_MS`); 0 turns the timing rule off. */
  readonly windowMs: number;
}

export interface MachineOpenVerdict {
  readonly machine: boolean;
  readonly reason: MachineOpenReason;
  /** See {@link userAgentFamily}. */
  readonly family: string;
}

/**
 * Whether an open is likely a machine's: no user agent, a proxy or scanner user agent (see
 * {@link machineUserAgentRules}), before the message is recorded as sent, or within
 * `windowMs` of sending (delivery-time scanners). The first rule that applies is the reason.
 * Flagged opens are still recorded, so that open rates can be shown with and without them.
 *
 * @example
 * isLikelyMachineOpen({ userAgent: 'Mozilla/5.0', sentAt, openedAt: new Date(), windowMs: 5000 })
 * // { machine: true, reason: 'machine_user_agent', family: 'apple_mpp' }
 */
export function isLikelyMachineOpen(input: MachineOpenInput): MachineOpenVerdict {
  const family = userAgentFamily(input.userAgent);
  if (family === 'none') return { machine: true, reason: 'missing_user_agent', family };
  if (family !== 'other') return { machine: true, reason: 'machine_user_agent', family };
  if (input.sentAt === null) return { machine: true, reason: 'not_sent_yet', family };
  if (input.openedAt.getTime() - input.sentAt.getTime() < input.windowMs) return { machine: true, reason: 'within_window', family };
  return { machine: false, reason: 'none', family };
}
