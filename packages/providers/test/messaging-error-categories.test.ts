import {
  categorizeTwilioError,
  categorizeWhatsAppError,
  parseRetryAfter,
  twilioProviderError,
  whatsAppProviderError,
} from '@crm/providers';

describe('categorizeTwilioError', () => {
  it.each([
    [{ network: 'ETIMEDOUT' }, 'transient'],
    [{ network: 'ECONNRESET' }, 'transient'],
    [{ network: 'ECONNREFUSED' }, 'transient'],
    [{ status: 500, code: 20500 }, 'transient'],
    [{ status: 503 }, 'transient'],
    [{ status: 429, code: 20429 }, 'rate_limit'],
    [{ status: 429 }, 'rate_limit'],
    [{ status: 400, code: 20429 }, 'rate_limit'],
    [{ status: 400, code: 21211 }, 'permanent'],
    [{ status: 400, code: 21614 }, 'permanent'],
    [{ status: 400, code: 21408 }, 'permanent'],
    [{ status: 400, code: 21610 }, 'permanent'],
    [{ status: 400, code: 21612 }, 'permanent'],
    [{ status: 400, code: 21602 }, 'permanent'],
    [{ status: 404, code: 20404 }, 'permanent'],
    [{ status: 401, code: 20003 }, 'auth_failure'],
    [{ status: 403 }, 'auth_failure'],
    [{ status: 400, code: 20003 }, 'auth_failure'],
  ] as const)('%j → %s', (failure, category) => {
    expect(categorizeTwilioError(failure)).toBe(category);
  });
});

describe('categorizeWhatsAppError', () => {
  it.each([
    [{ network: 'ETIMEDOUT' }, 'transient'],
    [{ network: 'ENOTFOUND' }, 'transient'],
    [{ status: 500, code: 131000, type: 'OAuthException' }, 'transient'],
    [{ status: 503, code: 2 }, 'transient'],
    [{ status: 502 }, 'transient'],
    [{ status: 400, code: 131016 }, 'transient'],
    [{ status: 429, code: 130429, type: 'OAuthException' }, 'rate_limit'],
    [{ status: 400, code: 130429, type: 'OAuthException' }, 'rate_limit'],
    [{ status: 400, code: 131056, type: 'OAuthException' }, 'rate_limit'],
    [{ status: 400, code: 80007 }, 'rate_limit'],
    [{ status: 429 }, 'rate_limit'],
    [{ status: 400, code: 131026, type: 'OAuthException' }, 'permanent'],
    [{ status: 400, code: 131051, type: 'OAuthException' }, 'permanent'],
    [{ status: 400, code: 100, type: 'OAuthException' }, 'permanent'],
    [{ status: 400, code: 131047, type: 'OAuthException' }, 'permanent'],
    [{ status: 404 }, 'permanent'],
    [{ status: 401, code: 190, type: 'OAuthException' }, 'auth_failure'],
    [{ status: 400, code: 190, type: 'OAuthException' }, 'auth_failure'],
    [{ status: 403, code: 10 }, 'auth_failure'],
    [{ status: 400, code: 200 }, 'auth_failure'],
    [{ status: 400, type: 'OAuthException' }, 'auth_failure'],
    [{ status: 403 }, 'auth_failure'],
  ] as const)('%j → %s', (failure, category) => {
    expect(categorizeWhatsAppError(failure)).toBe(category);
  });
});

describe('parseRetryAfter', () => {
  it('reads delay-seconds and HTTP dates, and nothing else', () => {
    expect(parseRetryAfter('2')).toBe(2000);
    expect(parseRetryAfter('0.5')).toBe(500);
    expect(parseRetryAfter(['3'])).toBe(3000);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:59:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(undefined)).toBeNull();
    expect(parseRetryAfter('soon')).toBeNull();
  });
});

describe('provider errors', () => {
  it('carry provider, category, code and Retry-After, and a message without the recipient or the text', () => {
    const twilio = twilioProviderError({
      status: 400,
      body: { code: 21211, message: "The 'To' number +14155550123 is not a valid phone number.", more_info: 'https://www.twilio.com/docs/errors/21211', status: 400 },
      retryAfterMs: null,
    });
    expect(twilio).toMatchObject({ name: 'ProviderError', provider: 'twilio', category: 'permanent', code: '21211', retryAfterMs: null });
    expect(twilio.message).toBe('Twilio answered HTTP 400, error 21211');

    const limited = twilioProviderError({ status: 429, body: { code: 20429, message: 'Too Many Requests', status: 429 }, retryAfterMs: 2000 });
    expect(limited).toMatchObject({ category: 'rate_limit', code: '20429', retryAfterMs: 2000 });

    const timeout = twilioProviderError({ network: 'ETIMEDOUT', retryAfterMs: null });
    expect(timeout).toMatchObject({ category: 'transient', code: 'ETIMEDOUT', message: 'Twilio did not answer (ETIMEDOUT)' });

    const graph = whatsAppProviderError({
      status: 400,
      body: { error: { message: '(#131026) Message Undeliverable', type: 'OAuthException', code: 131026, error_data: { messaging_product: 'whatsapp', details: 'Message to +14155550123 failed' }, fbtrace_id: 'x' } },
      retryAfterMs: 5000,
    });
    expect(graph).toMatchObject({ provider: 'whatsapp', category: 'permanent', code: '131026', retryAfterMs: null });
    expect(graph.message).toBe('WhatsApp Cloud API answered HTTP 400, error 131026 (OAuthException)');
    expect(graph.message).not.toContain('+1415');

    expect(whatsAppProviderError({ status: 502, body: '<html>Bad Gateway</html>', retryAfterMs: null })).toMatchObject({ category: 'transient', code: 'HTTP_502' });
  });
});
