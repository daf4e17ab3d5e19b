import { createHmac } from 'node:crypto';
import mjml2html from 'mjml';
import {
  instrumentEmailHtml,
  isLikelyMachineOpen,
  listUnsubscribeHeaders,
  machineUserAgentRules,
  signTrackingToken,
  unsubscribeUrl,
  userAgentFamily,
  verifyTrackingToken,
  type TrackingPayload,
} from '@crm/core';

const secret = 'tracking-secret-for-tests-0123456789';
const id = '6f1c7f55-2d5f-4d57-9d1f-3d1b8f7c9a11';
const base = 'https://crm.example.com';

/** Flips one character of `text` at `at` to another of the base64url alphabet. */
const flip = (text: string, at: number) => text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1);
const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('tracking tokens', () => {
  it.each<TrackingPayload>([
    { k: 'o', c: id },
    { k: 'u', c: id },
    { k: 'c', c: id, u: 'https://example.com/plan?a=1&b=%20x#top' },
  ])('round-trips %j', (payload) => {
    const token = signTrackingToken(secret, payload);
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(verifyTrackingToken(secret, token)).toEqual(payload);
    expect(verifyTrackingToken(secret, token, payload.k)).toEqual(payload);
  });

  it('refuses a token of another kind when a kind is asked for', () => {
    const open = signTrackingToken(secret, { k: 'o', c: id });
    expect(verifyTrackingToken(secret, open, 'c')).toBeNull();
    expect(verifyTrackingToken(secret, open, 'u')).toBeNull();
  });

  it('refuses any changed character of the payload or of the signature', () => {
    const token = signTrackingToken(secret, { k: 'c', c: id, u: 'https://example.com/plan' });
    const dot = token.indexOf('.');
    for (let at = 0; at < token.length; at++) {
      if (at === dot) continue;
      expect(verifyTrackingToken(secret, flip(token, at))).toBeNull();
    }
  });

  it('refuses a re-signed payload with another URL or kind, another secret, and malformed tokens', () => {
    const token = signTrackingToken(secret, { k: 'c', c: id, u: 'https://example.com/plan' });
    const signature = token.split('.')[1]!;
    // The payload swapped, the signature kept: an attempt at an open redirect or a kind change.
    expect(verifyTrackingToken(secret, `${encode({ k: 'c', c: id, u: 'https://evil.example/' })}.${signature}`)).toBeNull();
    expect(verifyTrackingToken(secret, `${encode({ k: 'u', c: id })}.${signature}`)).toBeNull();
    expect(verifyTrackingToken('another-secret', token)).toBeNull();
    for (const bad of ['', '.', token.replace('.', ''), `${token}.x`, `${token}A`, `a${'.'.repeat(2)}b`, 'x'.repeat(9000)]) {
      expect(verifyTrackingToken(secret, bad)).toBeNull();
    }
  });

  it('refuses a correctly signed payload of the wrong shape', () => {
    // Signed the way the module signs, so only the shape check can refuse them.
    const forge = (value: unknown) => {
      const body = encode(value);
      return `${body}.${createHmac('sha256', secret).update(`crm-engine.tracking.v1.${body}`).digest('base64url')}`;
    };
    expect(verifyTrackingToken(secret, forge({ k: 'o', c: id }))).toEqual({ k: 'o', c: id });
    expect(verifyTrackingToken(secret, forge({ k: 'x', c: id }))).toBeNull();
    expect(verifyTrackingToken(secret, forge({ k: 'o', c: 'not-a-uuid' }))).toBeNull();
    expect(verifyTrackingToken(secret, forge({ k: 'o', c: id, u: 'https://example.com' }))).toBeNull();
    expect(verifyTrackingToken(secret, forge({ k: 'c', c: id }))).toBeNull();
    expect(verifyTrackingToken(secret, forge({ k: 'c', c: id, u: 'javascript:alert(1)' }))).toBeNull();
    expect(verifyTrackingToken(secret, forge({ k: 'c', c: id, u: 'http://example.com' }))).toBeNull();
    expect(verifyTrackingToken(secret, forge({ k: 'o', c: id, extra: 1 }))).toBeNull();
    expect(verifyTrackingToken(secret, forge([1, 2]))).toBeNull();
  });

  it('will not sign what it would refuse', () => {
    expect(() => signTrackingToken(secret, { k: 'c', c: id })).toThrow(TypeError);
    expect(() => signTrackingToken(secret, { k: 'c', c: id, u: 'javascript:alert(1)' })).toThrow(TypeError);
    expect(() => signTrackingToken(secret, { k: 'o', c: 'client-42' })).toThrow(TypeError);
    expect(() => signTrackingToken('', { k: 'o', c: id })).toThrow(TypeError);
  });
});

describe('unsubscribe links and headers', () => {
  it('builds the unsubscribe URL under the base URL, with or without a trailing slash', () => {
    const url = unsubscribeUrl(`${base}/`, secret, id);
    expect(url.startsWith(`${base}/u/`)).toBe(true);
    expect(verifyTrackingToken(secret, url.slice(`${base}/u/`.length), 'u')).toEqual({ k: 'u', c: id });
  });

  it('answers the RFC 8058 pair, https first, the mailto carrying the same token', () => {
    const headers = listUnsubscribeHeaders({ baseUrl: base, secret, communicationId: id, mailto: 'unsubscribe@example.com' });
    expect(headers['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
    const match = /^<(https:\/\/crm\.example\.com\/u\/([^>]+))>, <mailto:unsubscribe@example\.com\?subject=unsubscribe-([^>]+)>$/.exec(headers['List-Unsubscribe']);
    expect(match).not.toBeNull();
    expect(match![2]).toBe(match![3]);
    expect(verifyTrackingToken(secret, match![2]!, 'u')).toEqual({ k: 'u', c: id });
    expect(match![1]).toBe(unsubscribeUrl(base, secret, id));
  });

  it('refuses a mailto that would break the header', () => {
    expect(() => listUnsubscribeHeaders({ baseUrl: base, secret, communicationId: id, mailto: 'a@b.c>, <https://evil' })).toThrow(TypeError);
  });
});

describe('instrumentEmailHtml', () => {
  const options = { communicationId: id, baseUrl: base, secret, tracking: true };
  const clickTarget = (href: string) => verifyTrackingToken(secret, href.slice(`${base}/t/c/`.length), 'c')?.u;
  const hrefs = (html: string) => [...html.matchAll(/<a\b[^>]*?\shref\s*=\s*(?:"([^"]*)"|'([^']*)')/gi)].map((m) => (m[1] ?? m[2])!.replace(/&amp;/g, '&'));
  const pixels = (html: string) => html.match(/<img [^>]*src="https:\/\/crm\.example\.com\/t\/o\/[^"]+"[^>]*>/g) ?? [];

  const html = [
    '<html><body><p>',
    '<a href="https://example.com/plan?a=1&amp;b=2">plan</a>',
    "<a class='x' HREF='https://example.com/b' target=\"_blank\">b</a>",
    '<a href="mailto:help@example.com">mail</a>',
    '<a href="tel:+14155550123">call</a>',
    '<a href="http://insecure.example.com/">http</a>',
    '<a href="/relative">relative</a>',
    `<a href="${base}/u/TOKEN">Unsubscribe</a>`,
    '<a title="x href=https://evil.example/ y" href="https://example.com/c">c</a>',
    '<abbr title="https://example.com/not-a-link">abbr</abbr>',
    '<a name="anchor">no href</a>',
    '</p></body></html>',
  ].join('\n');

  it('rewrites https links only, each to a token for its own URL', () => {
    const out = instrumentEmailHtml(html, options);
    const links = hrefs(out);
    expect(links.filter((href) => href.startsWith(`${base}/t/c/`)).map(clickTarget)).toEqual([
      'https://example.com/plan?a=1&b=2',
      'https://example.com/b',
      'https://example.com/c',
    ]);
    expect(links).toEqual(expect.arrayContaining(['mailto:help@example.com', 'tel:+14155550123', 'http://insecure.example.com/', '/relative', `${base}/u/TOKEN`]));
    // Other attributes, a look-alike inside another attribute's value, and non-links are untouched.
    expect(out).toContain("<a class='x' href=\"");
    expect(out).toContain('target="_blank">b</a>');
    expect(out).toContain('title="x href=https://evil.example/ y"');
    expect(out).toContain('<abbr title="https://example.com/not-a-link">abbr</abbr>');
    expect(out).toContain('<a name="anchor">no href</a>');
  });

  it('adds exactly one pixel, just before </body>, and not again when run twice', () => {
    const once = instrumentEmailHtml(html, options);
    expect(pixels(once)).toHaveLength(1);
    expect(once).toMatch(/<\/p><img src="[^"]+" width="1" height="1" alt="" style="[^"]*" \/><\/body><\/html>$/);
    const token = /\/t\/o\/([^"]+)"/.exec(once)![1]!;
    expect(verifyTrackingToken(secret, token, 'o')).toEqual({ k: 'o', c: id });
    const twice = instrumentEmailHtml(once, options);
    expect(twice).toBe(once);
    // No </body>: the pixel goes at the end.
    expect(instrumentEmailHtml('<p>hi</p>', options)).toMatch(/^<p>hi<\/p><img /);
  });

  it('changes nothing when tracking is off', () => {
    expect(instrumentEmailHtml(html, { ...options, tracking: false })).toBe(html);
  });

  it('keeps real MJML output intact apart from the hrefs and the pixel', async () => {
    const { html: rendered } = await mjml2html(`<mjml><mj-body><mj-section><mj-column>
      <mj-text>Hello <a href="https://example.com/a?x=1&amp;y=2">a</a> <a href="mailto:help@example.com">mail</a></mj-text>
      <mj-button href="https://example.com/button">Open the plan</mj-button>
      <mj-image src="https://example.com/logo.png" alt="Logo" href="https://example.com/logo-link" />
      <mj-text><a href="${base}/u/TOKEN">Unsubscribe</a></mj-text>
    </mj-column></mj-section></mj-body></mjml>`);
    const out = instrumentEmailHtml(rendered, options);
    // Undo the two changes: the rest must be byte for byte what MJML wrote.
    const restored = out
      .replace(/<img src="https:\/\/crm\.example\.com\/t\/o\/[^"]+"[^>]*\/>/, '')
      .replace(/href="(https:\/\/crm\.example\.com\/t\/c\/[^"]+)"/g, (_m, href: string) => `href="${clickTarget(href)!.replace(/&/g, '&amp;')}"`);
    expect(restored).toBe(rendered);
    expect(out.match(/<!--\[if mso \| IE\]>/g)?.length).toBe(rendered.match(/<!--\[if mso \| IE\]>/g)?.length);
    expect(hrefs(out).filter((href) => href.startsWith(`${base}/t/c/`)).map(clickTarget)).toEqual([
      'https://example.com/a?x=1&y=2',
      'https://example.com/button',
      'https://example.com/logo-link',
    ]);
    expect(pixels(out)).toHaveLength(1);
    expect(out).toContain(`href="${base}/u/TOKEN"`);
  });
});

describe('isLikelyMachineOpen', () => {
  const sentAt = new Date('2026-03-02T10:00:00Z');
  const later = new Date('2026-03-02T11:00:00Z');
  const human = {
    iphoneMail: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
    macMail: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)',
    outlook: 'Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)',
    thunderbird: 'Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.8.0',
    chrome: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  };

  it.each([
    ['Mozilla/5.0', 'apple_mpp'],
    ['Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)', 'gmail_image_proxy'],
    ['YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html', 'yahoo_mail_proxy'],
    ['Barracuda Sentinel (EE)', 'barracuda'],
    ['Mozilla/5.0 (compatible; Mimecast URL scanner)', 'mimecast'],
    ['Mozilla/5.0 (compatible; Proofpoint)', 'proofpoint'],
    ['Microsoft Office SafeLinks Protection', 'microsoft_safe_links'],
    ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36', 'automation'],
    ['python-requests/2.31.0', 'automation'],
    ['curl/8.5.0', 'automation'],
  ])('flags %s as %s, however late', (userAgent, family) => {
    expect(isLikelyMachineOpen({ userAgent, sentAt, openedAt: later, windowMs: 5000 })).toEqual({ machine: true, reason: 'machine_user_agent', family });
  });

  it.each(Object.entries(human))('does not flag a person reading in %s', (_name, userAgent) => {
    expect(isLikelyMachineOpen({ userAgent, sentAt, openedAt: later, windowMs: 5000 })).toEqual({ machine: false, reason: 'none', family: 'other' });
  });

  it('flags a missing user agent, an open before the send is recorded, and one within the window', () => {
    for (const userAgent of [undefined, null, '', '   ']) {
      expect(isLikelyMachineOpen({ userAgent, sentAt, openedAt: later, windowMs: 5000 })).toMatchObject({ machine: true, reason: 'missing_user_agent', family: 'none' });
    }
    expect(isLikelyMachineOpen({ userAgent: human.chrome, sentAt: null, openedAt: later, windowMs: 5000 })).toMatchObject({ machine: true, reason: 'not_sent_yet' });
    const at = (ms: number) => new Date(sentAt.getTime() + ms);
    expect(isLikelyMachineOpen({ userAgent: human.chrome, sentAt, openedAt: at(4999), windowMs: 5000 })).toMatchObject({ machine: true, reason: 'within_window' });
    expect(isLikelyMachineOpen({ userAgent: human.chrome, sentAt, openedAt: at(5000), windowMs: 5000 })).toMatchObject({ machine: false, reason: 'none' });
    // 0 turns the timing rule off.
    expect(isLikelyMachineOpen({ userAgent: human.chrome, sentAt, openedAt: sentAt, windowMs: 0 })).toMatchObject({ machine: false });
  });

  it('names each rule with its source, and classifies families', () => {
    for (const rule of machineUserAgentRules) expect(rule.source.length).toBeGreaterThan(0);
    expect(new Set(machineUserAgentRules.map((rule) => rule.family)).size).toBe(machineUserAgentRules.length);
    expect(userAgentFamily(human.iphoneMail)).toBe('other');
    expect(userAgentFamily(undefined)).toBe('none');
  });
});
