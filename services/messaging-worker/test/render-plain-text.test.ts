import { messageTypes, smsSegments } from '@crm/core';
import { renderPlainText, twilioStatusCallbackUrl } from '@crm/messaging-worker';

describe('renderPlainText', () => {
  it('writes one SMS line with the name and the details', () => {
    expect(renderPlainText('budget_summary', { clientName: 'Ada', total: 18500, currency: 'EUR' }, 'sms')).toBe(
      'Hi Ada, your budget summary is ready. total: 18500, currency: EUR',
    );
    expect(renderPlainText('reminder', {}, 'sms')).toBe('Hi, a reminder about your event plan.');
  });

  it('keeps every message type to one GSM-7 segment with short variables', () => {
    for (const type of messageTypes) {
      const text = renderPlainText(type, { clientName: 'Ada', planName: 'Summer wedding' }, 'sms');
      expect({ type, segments: smsSegments(text) }).toEqual({ type, segments: expect.objectContaining({ encoding: 'GSM-7', segments: 1 }) });
    }
  });

  it('drops details from the end, then the name, to stay in one segment', () => {
    const long = { clientName: 'Ada', note: 'x'.repeat(100), other: 'y'.repeat(100) };
    expect(renderPlainText('budget_summary', long, 'sms')).toBe(`Hi Ada, your budget summary is ready. note: ${'x'.repeat(100)}`);
    const ucs2 = { clientName: 'Zoë', venue: 'Château de Ça' };
    const text = renderPlainText('vendor_options', ucs2, 'sms');
    expect(smsSegments(text).segments).toBe(1);
    expect(renderPlainText('welcome', { clientName: 'Ada'.repeat(60) }, 'sms')).toBe(
      'Hi, welcome! We have started planning your event and will keep you posted here.',
    );
  });

  it('writes a WhatsApp message with a bold title, the details one per line and a sign-off', () => {
    expect(renderPlainText('budget_summary', { clientName: 'Ada', total: 18500 }, 'whatsapp')).toBe(
      '*Your budget summary is ready*\n\nHello Ada, your budget summary is ready.\n\ntotal: 18500\n\nYour event planning team',
    );
    expect(renderPlainText('reminder', {}, 'whatsapp')).toBe('*A reminder about your event plan*\n\nA reminder about your event plan.\n\nYour event planning team');
  });
});

describe('twilioStatusCallbackUrl', () => {
  it("is ingest's Twilio status webhook with the communication id as cid", () => {
    const id = '6f1c2a4e-8a3b-4c1d-9e2f-0a1b2c3d4e5f';
    expect(twilioStatusCallbackUrl('https://crm.example.com', id)).toBe(`https://crm.example.com/webhooks/twilio/status?cid=${id}`);
    expect(twilioStatusCallbackUrl('https://example.com/crm/', id)).toBe(`https://example.com/crm/webhooks/twilio/status?cid=${id}`);
  });
});
