import { createHmac } from 'node:crypto';
import { CrmSignatureError, signCrmEvent, verifyCrmEvent, type CrmEvent, type CrmSignatureFailure } from '@crm/client';

const secret = 'whsec_dGVzdC1zZWNyZXQtb2YtMzItYnl0ZXMtZm9yLXRlc3Rz';
const now = new Date('2026-11-25T10:00:00Z');
const t = Math.floor(now.getTime() / 1000);

const event: CrmEvent = {
  id: 'evt_0123456789abcdef0123456789abcdef',
  type: 'client.replied',
  createdAt: '2026-11-25T10:00:00.000Z',
  data: {
    inboundId: 'in-1', clientId: 'client-42', planId: 'plan-7', communicationId: '4b0c0000-0000-4000-8000-000000000001',
    channel: 'sms', text: '2', selection: 2, at: '2026-11-25T09:59:59.000Z',
  },
};
const body = JSON.stringify(event);

function reasonOf(run: () => unknown): CrmSignatureFailure | 'none' {
  try {
    run();
    return 'none';
  } catch (error) {
    if (error instanceof CrmSignatureError) return error.reason;
    throw error;
  }
}

describe('signCrmEvent', () => {
  it('is t=<seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")> as in the contract', () => {
    const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
    expect(signCrmEvent({ secret, body, timestamp: t })).toBe(`t=${t},v1=${expected}`);
    expect(signCrmEvent({ secret, body: Buffer.from(body), timestamp: now })).toBe(`t=${t},v1=${expected}`);
  });
});

describe('verifyCrmEvent', () => {
  const signature = signCrmEvent({ secret, body, timestamp: t });

  it('returns the event of a good signature, typed by its type', () => {
    const verified = verifyCrmEvent({ secret, body, signature, now });
    expect(verified).toEqual(event);
    if (verified.type !== 'client.replied') throw new Error('expected client.replied');
    const selection: number | null = verified.data.selection;
    expect(selection).toBe(2);
    // The raw bytes work as well as the string, and the default tolerance admits 300 s either way.
    expect(verifyCrmEvent({ secret, body: Buffer.from(body), signature, now: now.getTime() + 300_000 }).id).toBe(event.id);
    expect(verifyCrmEvent({ secret, body, signature, now: now.getTime() - 300_000 }).id).toBe(event.id);
  });

  it('refuses a tampered body', () => {
    expect(reasonOf(() => verifyCrmEvent({ secret, body: body.replace('"2"', '"3"'), signature, now }))).toBe('mismatch');
    // Re-serialised JSON is not the raw body: one space is enough to fail.
    expect(reasonOf(() => verifyCrmEvent({ secret, body: JSON.stringify(event, null, 1), signature, now }))).toBe('mismatch');
  });

  it('refuses a wrong secret', () => {
    expect(reasonOf(() => verifyCrmEvent({ secret: `${secret}x`, body, signature, now }))).toBe('mismatch');
  });

  it('refuses a timestamp that is not the signed one', () => {
    const v1 = signature.split('v1=')[1];
    expect(reasonOf(() => verifyCrmEvent({ secret, body, signature: `t=${t + 1},v1=${v1}`, now }))).toBe('mismatch');
  });

  it('refuses an old (or far future) timestamp, even well signed', () => {
    expect(reasonOf(() => verifyCrmEvent({ secret, body, signature, now: now.getTime() + 301_000 }))).toBe('too_old');
    expect(reasonOf(() => verifyCrmEvent({ secret, body, signature, now: now.getTime() - 301_000 }))).toBe('too_old');
    expect(reasonOf(() => verifyCrmEvent({ secret, body, signature, now: now.getTime() + 60_000, toleranceSeconds: 30 }))).toBe('too_old');
  });

  it('accepts any of several v1 values (secret rotation), and several secrets', () => {
    const oldOne = signCrmEvent({ secret: 'whsec_old', body, timestamp: t }).split(',')[1];
    const newOne = signature.split(',')[1];
    expect(verifyCrmEvent({ secret, body, signature: `t=${t},${oldOne},${newOne}`, now }).id).toBe(event.id);
    expect(verifyCrmEvent({ secret, body, signature: `t=${t}, ${newOne}, ${oldOne}`, now }).id).toBe(event.id);
    expect(verifyCrmEvent({ secret: 'whsec_old', body, signature: `t=${t},${oldOne},${newOne}`, now }).id).toBe(event.id);
    expect(verifyCrmEvent({ secret: ['whsec_other', 'whsec_old'], body, signature: `t=${t},${oldOne}`, now }).id).toBe(event.id);
    expect(reasonOf(() => verifyCrmEvent({ secret: 'whsec_third', body, signature: `t=${t},${oldOne},${newOne}`, now }))).toBe('mismatch');
    // A header repeated by a proxy arrives as an array.
    expect(verifyCrmEvent({ secret, body, signature: [`t=${t}`, newOne!], now }).id).toBe(event.id);
    // Unknown schemes are ignored.
    expect(verifyCrmEvent({ secret, body, signature: `t=${t},v0=abc,${newOne}`, now }).id).toBe(event.id);
  });

  it('says missing without a header', () => {
    expect(reasonOf(() => verifyCrmEvent({ secret, body, signature: undefined, now }))).toBe('missing');
    expect(reasonOf(() => verifyCrmEvent({ secret, body, signature: '', now }))).toBe('missing');
    expect(reasonOf(() => verifyCrmEvent({ secret, body, signature: [], now }))).toBe('missing');
  });

  it('says malformed for a header that is not t=…,v1=…', () => {
    const v1 = signature.split(',')[1]!;
    for (const bad of [
      'garbage', `v1=${v1.slice(3)}`, `t=${t}`, `t=abc,${v1}`, `t=${t},t=${t},${v1}`, `t=${t},v1=xyz`, `t=${t},v1=${v1.slice(3, 40)}`, `t=${t},=x,${v1}`,
    ]) {
      expect([bad, reasonOf(() => verifyCrmEvent({ secret, body, signature: bad, now }))]).toEqual([bad, 'malformed']);
    }
  });

  it('says malformed for a well-signed body that is not an event', () => {
    for (const bad of ['not json', '[]', '{"id":"e"}']) {
      const signed = signCrmEvent({ secret, body: bad, timestamp: t });
      expect(reasonOf(() => verifyCrmEvent({ secret, body: bad, signature: signed, now }))).toBe('malformed');
    }
  });

  it('narrows communication events too', () => {
    const sent: CrmEvent = {
      id: 'evt_1', type: 'communication.failed', createdAt: '2026-11-25T10:00:00.000Z',
      data: {
        communicationId: 'c1', clientId: 'client-42', planId: 'plan-7', messageType: 'reminder', status: 'bounced', channel: 'email',
        channelsTried: ['email'], failureReason: 'bounced', metadata: { workflowRunId: 'run-1' }, at: '2026-11-25T10:00:00.000Z',
      },
    };
    const raw = JSON.stringify(sent);
    const verified = verifyCrmEvent({ secret, body: raw, signature: signCrmEvent({ secret, body: raw }) });
    expect(verified.type === 'communication.failed' && verified.data.metadata.workflowRunId).toBe('run-1');
  });
});
