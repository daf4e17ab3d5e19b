import fc from 'fast-check';
import { metaSignature, twilioSignature } from '@crm/providers';
import { fuzzSecrets, type FuzzSeed, type RouteInfo } from './target';

/** One generated request (what `app.inject` is given), with what kind of case it is. */
export interface FuzzRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string | string[]>>;
  readonly payload?: string;
  /** Send it twice: the second time must write nothing (idempotency, webhook deduplication). */
  readonly replay: boolean;
}

/** A placeholder a JSON string is replaced with after serialising: a number JSON.stringify cannot write. */
const RAW = (token: string): string => `\u0001RAW:${token}\u0001`;
const rawTokens = ['1e309', '-1e309', '-0', '1E400', '0.0000000000000000000000000001', '123456789012345678901234567890', '-9007199254740993'];
const serialise = (value: unknown): string => JSON.stringify(value).replace(/"\\u0001RAW:([^"\\]*)\\u0001"/g, '$1');

const specialStrings = [
  '', ' ', '\u0000', 'a\u0000b', '\uD800', '\uDC00', 'x\uD83D', '\u202Eevil', '\u200F\u200E', '😀', '👩‍👩‍👧‍👦', '𝕏', 'ﬀİß', '\r\n', '\t',
  'NaN', '-0', '1e309', 'Infinity', '-1', '0x10', 'null', 'true', '[]', '{}', '__proto__', 'constructor', 'prototype', '%00', '%', '%E0%A4%A',
  '../../etc/passwd', "' OR 1=1 --", '<script>alert(1)</script>', '${7*7}', '+14155550123', 'a@b.c', 'Europe/Paris', '25:99', '2026-02-30',
  '00000000-0000-0000-0000-000000000000', 'email', 'sms', 'whatsapp', 'critical', 'welcome',
];

/** Strings meant to break things: unicode (lone surrogates, RTL marks, emoji), NUL, NaN-ish, huge. */
export const nastyString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...specialStrings) },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('a', '😀', '\u0000', 'é', '\uD800'), fc.integer({ min: 257, max: 70_000 })).map(([c, n]) => c.repeat(n)) },
  { weight: 1, arbitrary: fc.array(fc.constantFrom(...specialStrings), { maxLength: 5 }).map((parts) => parts.join('')) },
);

const nastyNumber: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(0, -1, 1.5, 2 ** 31, 2 ** 53 + 2, -(2 ** 63), 1e308, Number.MIN_VALUE),
  fc.constantFrom(...rawTokens).map(RAW),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

/** JSON values of every type, nested a little. */
export const jsonValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    nastyString, nastyNumber, fc.boolean(), fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(nastyString, tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** 1,000 levels (give or take) of arrays or objects. */
const deepNesting: fc.Arbitrary<unknown> = fc.tuple(fc.integer({ min: 900, max: 1_100 }), fc.boolean()).map(([depth, arrays]) => {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = arrays ? [value] : { a: value };
  return value;
});

const bigArray: fc.Arbitrary<unknown> = fc.tuple(fc.integer({ min: 1_001, max: 20_000 }), fc.constantFrom<unknown>(1, 'x', {}, null)).map(([n, item]) => Array.from({ length: n }, () => item));

/** A value for a field: nasty, of another type, deep or big. */
const fieldValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: jsonValue },
  { weight: 1, arbitrary: deepNesting },
  { weight: 1, arbitrary: bigArray },
  { weight: 1, arbitrary: fc.constant(undefined) },
);

type Path = readonly (string | number)[];

/** Every path inside `value` (`['entry', 0, 'changes']`…), the root excluded. */
function pathsOf(value: unknown, prefix: Path = []): Path[] {
  if (Array.isArray(value)) return value.flatMap((item, i) => [[...prefix, i], ...pathsOf(item, [...prefix, i])]);
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([key, item]) => [[...prefix, key], ...pathsOf(item, [...prefix, key])]);
  return [];
}

/** A copy of `value` with what is at `path` replaced (or, for `undefined`, dropped). */
function setAt(value: unknown, path: Path, replacement: unknown): unknown {
  const [head, ...rest] = path;
  if (head === undefined) return replacement;
  if (Array.isArray(value)) return value.map((item, i) => (i === head ? setAt(item, rest, replacement) : item)).filter((item, i) => !(i === head && rest.length === 0 && replacement === undefined));
  if (value !== null && typeof value === 'object') {
    const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    const next = setAt(copy[String(head)], rest, replacement);
    if (next === undefined) delete copy[String(head)];
    else copy[String(head)] = next;
    return copy;
  }
  return value;
}

/** A valid body, changed a little: a field dropped, replaced or added at any depth, or nested fields replaced. */
function mutated(valid: Record<string, unknown>): fc.Arbitrary<unknown> {
  const keys = Object.keys(valid);
  const paths = pathsOf(valid);
  const deep = fc.array(fc.tuple(fc.constantFrom(...paths), fieldValue), { minLength: 1, maxLength: 3 }).map((changes) => changes.reduce<unknown>((body, [path, value]) => setAt(body, path, value), valid));
  const fieldNames = fc.oneof(fc.constantFrom(...keys, '__proto__', 'constructor', 'extra'), nastyString);
  return fc.oneof(
    fc.constant(valid),
    deep,
    deep,
    fc.constantFrom(...keys).map((drop) => Object.fromEntries(Object.entries(valid).filter(([key]) => key !== drop))),
    fc.tuple(fc.constantFrom(...keys), fieldValue).map(([key, value]) => ({ ...valid, [key]: value })),
    fc.tuple(fieldNames, fieldValue).map(([key, value]) => ({ ...valid, [key]: value })),
    fc.array(fc.tuple(fc.constantFrom(...keys), fieldValue), { minLength: 2, maxLength: 4 }).map((changes) => ({ ...valid, ...Object.fromEntries(changes) })),
  );
}

/** A body as sent: JSON (often almost valid), raw garbage, deep, huge or empty. */
function bodyText(valid: Record<string, unknown> | null): fc.Arbitrary<string | undefined> {
  const json = valid ? mutated(valid) : jsonValue;
  return fc.oneof(
    { weight: 8, arbitrary: json.map(serialise) },
    { weight: 1, arbitrary: jsonValue.map(serialise) },
    { weight: 1, arbitrary: deepNesting.map(serialise) },
    { weight: 1, arbitrary: fc.integer({ min: 900, max: 1_100 }).map((n) => `${'['.repeat(n)}`) },
    { weight: 1, arbitrary: nastyString },
    { weight: 1, arbitrary: fc.constantFrom(undefined, '', 'null', '{', '{"a":1,"a":2}', '\uFEFF{}', '{"__proto__":{"polluted":1}}', '[1,2,3]', '"string"') },
    { weight: 1, arbitrary: fc.integer({ min: 60_000, max: 800_000 }).map((n) => JSON.stringify({ clientId: 'c', pad: 'x'.repeat(n) })) },
  );
}

const contentTypes = [
  'application/json', 'application/json; charset=utf-8', 'application/JSON', 'application/problem+json', 'text/plain', 'text/html',
  'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream', 'application/pdf', 'image/png',
  'application/json; charset=latin1', 'application/json; charset=utf-16', '', ';;;', 'application/json\u0000', '*/*', 'application/vnd.api+json',
];

/** Headers: the route's credentials or bad ones, content types, huge and duplicated headers. */
function headers(seed: FuzzSeed, kind: RouteKind, hasBody: boolean): fc.Arbitrary<Record<string, string | string[]>> {
  const good = kind === 'operator' ? seed.basic : kind === 'api' ? seed.bearer : null;
  const authorization = fc.oneof(
    { weight: 8, arbitrary: fc.constant<string | string[] | undefined>(good ?? seed.bearer) },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 2, arbitrary: fc.constantFrom('Bearer', 'Bearer ', 'Bearer x', `Bearer ${'a'.repeat(10_000)}`, 'Basic', 'Basic !!!', `Basic ${Buffer.from('operator:wrong').toString('base64')}`, 'Digest x', `${seed.bearer}x`, seed.bearer.toLowerCase(), `Bearer\u0000${seed.bearer.slice(7)}`) },
    { weight: 1, arbitrary: fc.constant<string | string[]>([good ?? seed.bearer, 'Bearer other']) },
    { weight: 1, arbitrary: nastyString.map((s) => `Bearer ${s}`) },
  );
  const contentType = fc.oneof({ weight: 6, arbitrary: fc.constant<string | string[] | undefined>(hasBody ? 'application/json' : undefined) }, { weight: 3, arbitrary: fc.constantFrom(...contentTypes) }, { weight: 1, arbitrary: fc.constant<string | string[]>(['application/json', 'text/plain']) });
  const extra = fc.oneof(
    { weight: 6, arbitrary: fc.constant({}) },
    { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 60_000 }).map((n) => ({ 'x-huge': 'h'.repeat(n) })) },
    { weight: 1, arbitrary: fc.constantFrom<Record<string, string | string[]>>(
      { 'idempotency-key': ['a', 'b'] }, { 'idempotency-key': '' }, { 'idempotency-key': 'k'.repeat(300) }, { 'idempotency-key': 'fuzz-key' },
      { 'x-request-id': 'x'.repeat(5_000) }, { accept: 'text/html' }, { accept: 'application/xml' }, { 'accept-encoding': 'gzip, br' },
      { cookie: 'crm_operator=garbage' }, { 'x-forwarded-for': '1.2.3.4, ::1' }, { 'content-encoding': 'gzip' }, { 'transfer-encoding': 'chunked' },
    ) },
    { weight: 1, arbitrary: fc.dictionary(fc.constantFrom('x-a', 'x-b', 'idempotency-key', 'accept', 'user-agent', 'x-twilio-signature', 'x-hub-signature-256'), nastyString.map((s) => s.replace(/[^\t\x20-\x7e\x80-\xff]/g, '?')), { maxKeys: 3 }) },
  );
  return fc.tuple(authorization, contentType, extra).map(([auth, type, more]) => {
    const result: Record<string, string | string[]> = { ...more };
    if (auth !== undefined) result['authorization'] = auth;
    if (type !== undefined) result['content-type'] = type;
    return result;
  });
}

/** Percent-encodes anything; a lone surrogate (which encodeURIComponent refuses) becomes the invalid UTF-8 `%ED%A0%80`. */
const encode = (text: string): string =>
  encodeURIComponent(text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD')).replace(/%EF%BF%BD/g, '%ED%A0%80');

/** A path segment: the real thing, or anything. */
function segment(real: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...real) },
    { weight: 1, arbitrary: fc.uuid() },
    { weight: 3, arbitrary: nastyString.map((s) => encode(s.slice(0, 300))) },
    { weight: 1, arbitrary: fc.constantFrom('%', '%zz', '%ED%A0%80', '%C0%AF', '..', '.', '%2F', 'a%00b', '%E2%80%AE', 'x'.repeat(257), '%F0%9F%98%80') },
  );
}

/** A query string: the route's keys and others, repeated, as arrays, oddly encoded. */
function query(keys: readonly string[], realValues: readonly string[]): fc.Arbitrary<string> {
  const key = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...(keys.length > 0 ? keys : ['q'])) }, { weight: 1, arbitrary: fc.constantFrom('x', '__proto__', 'a[]', 'a[b]', '', '%', 'constructor') });
  const value = fc.oneof(fc.constantFrom(...realValues, ''), nastyString.map((s) => s.slice(0, 500)));
  const pair = fc.tuple(key, value, fc.constantFrom('plain', 'array', 'raw')).map(([k, v, style]) =>
    style === 'raw' ? `${k}=${v.replace(/[&#\s]/g, '')}` : `${encode(k)}${style === 'array' ? '[]' : ''}=${encode(v)}`,
  );
  return fc.oneof({ weight: 2, arbitrary: fc.constant('') }, { weight: 5, arbitrary: fc.array(pair, { maxLength: 6 }).map((pairs) => (pairs.length ? `?${pairs.join('&')}` : '')) }, { weight: 1, arbitrary: fc.constantFrom('?', '?&&', '?a=1&a=2&a=3', `?${'k=v&'.repeat(2_000)}`, '?%', '?=') });
}

/** How a route is authenticated, which decides its credentials and its expected answers. */
export type RouteKind = 'api' | 'operator' | 'public' | 'twilio' | 'whatsapp' | 'tracking';

/** The kind of a route, by its path. */
export function kindOf(route: RouteInfo): RouteKind {
  if (route.url.startsWith('/webhooks/twilio')) return 'twilio';
  if (route.url.startsWith('/webhooks/whatsapp')) return 'whatsapp';
  if (/^\/(t|u)\//.test(route.url)) return 'tracking';
  if (route.url.startsWith('/api/')) return 'api';
  if (route.url.startsWith('/dashboard') || route.url.startsWith('/admin')) return 'operator';
  return 'public';
}

/** Valid bodies of the routes that take one (the fuzzer changes them a little, most of the time). */
function validBody(route: RouteInfo, seed: FuzzSeed): Record<string, unknown> | null {
  const request = { clientId: seed.clientId, planId: 'fuzz-plan', messageType: 'reminder', urgency: 'normal', variables: { clientName: 'Ada' }, channel: null, sendAt: null, attachments: [], metadata: {}, recipient: { email: 'fuzz@example.com', phone: seed.phone } };
  const url = route.url.replace(/^\/dashboard/, '');
  if (url === '/api/crm/communications' || url === '/api/crm/communications/preview') return request;
  if (url === '/api/crm/communications/batch') return { items: [request, { ...request, clientId: 'fuzz-client-2' }] };
  if (url === '/api/crm/preferences') return { clientId: seed.clientId, channels: ['email', 'sms'], timezone: 'Europe/Paris', quietHours: { start: '22:00', end: '07:00' }, optOuts: [], language: 'en', email: 'fuzz@example.com', phone: seed.phone };
  if (url === '/api/crm/callbacks') return { url: 'http://127.0.0.1:9/hook', events: ['communication.sent'] };
  if (url === '/login') return { username: 'operator', password: 'wrong', next: '/dashboard' };
  return null;
}

const queryKeys: Record<string, readonly string[]> = {
  '/api/crm/communications': ['planId', 'clientId', 'channel', 'status', 'from', 'to', 'limit', 'cursor'],
  '/api/crm/analytics': ['from', 'to', 'channel', 'messageType', 'groupBy', 'rows'],
  '/login': ['next'],
  '/webhooks/whatsapp': ['hub.mode', 'hub.verify_token', 'hub.challenge'],
  '/api/crm/attachments': ['filename'],
  '/api/crm/templates/:type/preview': ['channel', 'language', 'version'],
};

/** Fills a route's `:params` and `*`. */
function pathOf(route: RouteInfo, seed: FuzzSeed): fc.Arbitrary<string> {
  const parts = route.url.split('/');
  const tokenFor = route.url.startsWith('/t/o') ? seed.openToken : route.url.startsWith('/t/c') ? seed.clickToken : seed.unsubscribeToken;
  const realFor = (name: string): string[] => {
    if (name === '*') return [tokenFor, `${tokenFor}x`, tokenFor.slice(0, -2), seed.openToken];
    if (name === ':id') return route.url.includes('callbacks') ? [seed.callbackId || 'none'] : [seed.communicationId];
    if (name === ':clientId') return [seed.clientId, 'fuzz-client-2'];
    if (name === ':type') return ['reminder', 'welcome', 'budget_summary'];
    if (name === ':name') return ['dashboard.css', 'dashboard.js', 'chart.js'];
    return ['x'];
  };
  return fc.tuple(...parts.map((part) => (part === '*' || part.startsWith(':') ? segment(realFor(part)) : fc.constant(part)))).map((filled) => filled.join('/'));
}

/** Twilio's form parameters (a status callback or an inbound SMS), often garbage. */
function twilioParams(seed: FuzzSeed): fc.Arbitrary<Record<string, string>> {
  const valid = { MessageSid: 'SMfuzz0001', SmsSid: 'SMfuzz0001', MessageStatus: 'delivered', AccountSid: `AC${'1'.repeat(32)}`, From: seed.phone, To: '+15005550006', Body: '2', ApiVersion: '2010-04-01', ErrorCode: '30003' };
  const str = nastyString.map((s) => s.slice(0, 2_000));
  return fc.oneof(
    fc.constant(valid),
    fc.tuple(fc.constantFrom(...Object.keys(valid)), str).map(([k, v]) => ({ ...valid, [k]: v })),
    fc.dictionary(fc.oneof(fc.constantFrom(...Object.keys(valid)), str), str, { maxKeys: 8 }),
    fc.constantFrom('STOP', 'START', 'HELP', 'stop ', 'UNSUBSCRIBE', '1', '').map((Body) => ({ ...valid, MessageSid: `SMfuzz-${Body}`, Body })),
  );
}

/** Meta's webhook body (statuses and messages), often garbage. */
function metaBody(seed: FuzzSeed): fc.Arbitrary<unknown> {
  const from = seed.phone.slice(1);
  const valid = {
    object: 'whatsapp_business_account',
    entry: [{ id: '1', changes: [{ field: 'messages', value: {
      messaging_product: 'whatsapp', metadata: { phone_number_id: '1' },
      statuses: [{ id: 'wamid.fuzz', status: 'delivered', timestamp: '1700000000', recipient_id: from }],
      messages: [{ id: 'wamid.in.fuzz', from, timestamp: '1700000000', type: 'text', text: { body: '2' } }],
    } }] }],
  };
  return fc.oneof(fc.constant(valid), mutated(valid), jsonValue, fc.tuple(fieldValue, fieldValue).map(([a, b]) => ({ object: 'whatsapp_business_account', entry: [{ changes: [{ value: { statuses: [a], messages: [b] } }] }] })));
}

/** Requests for one route: its path, query, headers and body, all fuzzed; for webhooks, signatures good and bad. */
export function requestFor(route: RouteInfo, seed: FuzzSeed): fc.Arbitrary<FuzzRequest> {
  const kind = kindOf(route);
  const path = pathOf(route, seed);
  const keys = queryKeys[route.url.replace(/^\/dashboard/, '')] ?? [];
  const q = query(keys, [fuzzSecrets.webhooks.whatsappVerifyToken, 'subscribe', '2026-01-01', 'email', '10', seed.clientId]);
  const hasBody = !['GET', 'HEAD', 'OPTIONS'].includes(route.method);
  const replay = fc.boolean();

  if (kind === 'twilio' && route.method === 'POST') {
    const signature = fc.constantFrom('good', 'good', 'good', 'bad', 'missing', 'duplicate', 'other-url');
    return fc.tuple(path, q, twilioParams(seed), signature, replay, fc.oneof({ weight: 5, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: bodyText(null) })).map(([p, qs, params, sig, twice, raw]) => {
      const url = `${p}${qs}`;
      const good = twilioSignature(fuzzSecrets.webhooks.twilioAuthToken, `${fuzzSecrets.webhooks.publicBaseUrl}${url}`, params);
      const header = sig === 'good' ? good : sig === 'bad' ? `${good.slice(0, -2)}AA` : sig === 'duplicate' ? [good, good] : sig === 'other-url' ? twilioSignature(fuzzSecrets.webhooks.twilioAuthToken, `${fuzzSecrets.webhooks.publicBaseUrl}/x`, params) : undefined;
      return {
        method: 'POST', url, replay: twice, payload: raw ?? new URLSearchParams(params).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...(header !== undefined && { 'x-twilio-signature': header }) },
      };
    });
  }
  if (kind === 'whatsapp' && route.method === 'POST') {
    const signature = fc.constantFrom('good', 'good', 'good', 'bad', 'missing', 'uppercase', 'sha1');
    const body = fc.oneof({ weight: 4, arbitrary: metaBody(seed).map(serialise) }, { weight: 1, arbitrary: bodyText(null).map((b) => b ?? '') });
    return fc.tuple(path, q, body, signature, replay, fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain')).map(([p, qs, raw, sig, twice, type]) => {
      const good = metaSignature(fuzzSecrets.webhooks.whatsappAppSecret, raw);
      const header = sig === 'good' ? good : sig === 'bad' ? `${good.slice(0, -2)}00` : sig === 'uppercase' ? good.toUpperCase() : sig === 'sha1' ? good.replace('sha256', 'sha1') : undefined;
      return { method: 'POST', url: `${p}${qs}`, replay: twice, payload: raw, headers: { 'content-type': type, ...(header !== undefined && { 'x-hub-signature-256': header }) } };
    });
  }
  if (kind === 'whatsapp') {
    const handshake = fc.tuple(fc.constantFrom('subscribe', 'unsubscribe', ''), fc.constantFrom(fuzzSecrets.webhooks.whatsappVerifyToken, `${fuzzSecrets.webhooks.whatsappVerifyToken}x`, ''), nastyString)
      .map(([mode, token, challenge]) => `?hub.mode=${mode}&hub.verify_token=${encode(token)}&hub.challenge=${encode(challenge.slice(0, 500))}`);
    return fc.tuple(path, fc.oneof(handshake, q), replay).map(([p, qs, twice]) => ({ method: route.method, url: `${p}${qs}`, headers: {}, replay: twice }));
  }
  if (route.url === '/api/crm/attachments') {
    const magic: Record<string, string> = { 'application/pdf': '%PDF-1.4\n', 'image/png': '\x89PNG\r\n\x1a\n', 'image/jpeg': '\xff\xd8\xff' };
    const upload = fc.tuple(fc.constantFrom('application/pdf', 'image/png', 'image/jpeg'), fc.constantFrom('application/pdf', 'image/png', 'image/jpeg'), nastyString, fc.oneof(fc.constant('plan.pdf'), nastyString))
      .map(([declared, actual, rest, filename]) => ({ type: declared, body: `${magic[actual] ?? ''}${rest}`, filename }));
    return fc.tuple(upload, headers(seed, kind, true), replay).map(([u, h, twice]) => ({
      method: 'POST', url: `/api/crm/attachments?filename=${encode(u.filename.slice(0, 300))}`, replay: twice, payload: u.body, headers: { ...h, 'content-type': h['content-type'] === 'application/json' ? u.type : (h['content-type'] ?? u.type) },
    }));
  }
  const valid = hasBody ? validBody(route, seed) : null;
  const body = hasBody ? bodyText(valid) : fc.constant(undefined);
  return fc.tuple(path, q, headers(seed, kind, hasBody), body, replay).map(([p, qs, h, payload, twice]) => ({
    method: route.method, url: `${p}${qs}`, headers: h, replay: twice && hasBody, ...(payload !== undefined && { payload }),
  }));
}
