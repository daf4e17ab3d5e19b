import {
  categorizeTwilioDeliveryError,
  categorizeWhatsAppDeliveryError,
  categorizeWhatsAppError,
  twilioDeliveryErrorCategories,
  whatsAppDeliveryErrorCategories,
} from '@crm/providers';

describe('categorizeTwilioDeliveryError (status callback ErrorCode)', () => {
  it.each([
    ['30003', 'transient'], // unreachable handset
    ['30008', 'transient'], // unknown error
    ['30001', 'transient'],
    ['30410', 'transient'],
    ['30004', 'permanent'], // blocked
    ['30005', 'permanent'], // unknown / inactive number
    ['30006', 'permanent'], // landline or unreachable carrier
    ['30007', 'permanent'], // carrier filtering
    ['21610', 'permanent'], // opted out
    ['30022', 'rate_limit'],
    ['30002', 'auth_failure'],
    [30005, 'permanent'],
    [30003, 'transient'],
    [' 30006 ', 'permanent'],
    ['39999', 'transient'], // unknown code
    ['not-a-code', 'transient'],
    ['', 'transient'],
  ] as const)('%j → %s', (code, category) => {
    expect(categorizeTwilioDeliveryError(code)).toBe(category);
  });

  it('has a category for every code in its table', () => {
    for (const [code, category] of twilioDeliveryErrorCategories) expect(categorizeTwilioDeliveryError(String(code))).toBe(category);
  });
});

describe('categorizeWhatsAppDeliveryError (status webhook errors[].code)', () => {
  it.each([
    ['131026', 'permanent'], // undeliverable
    [131047, 'permanent'], // outside the 24-hour window
    ['131049', 'transient'], // healthy ecosystem: may pass later
    ['131000', 'transient'],
    ['130472', 'permanent'], // marketing experiment
    ['131050', 'permanent'],
    ['131056', 'rate_limit'],
    ['130429', 'rate_limit'],
    ['999999', 'transient'], // unknown code
    ['1e5', 'transient'],
    ['-1', 'transient'],
  ] as const)('%j → %s', (code, category) => {
    expect(categorizeWhatsAppDeliveryError(code)).toBe(category);
  });

  it('has a category for every code in its table', () => {
    for (const [code, category] of whatsAppDeliveryErrorCategories) expect(categorizeWhatsAppDeliveryError(code)).toBe(category);
  });
});

describe('categorizeWhatsAppError on a send', () => {
  it.each([
    [{ status: 400, code: 131047, type: 'OAuthException' }, 'permanent'],
    [{ status: 400, code: 131009, type: 'OAuthException' }, 'permanent'],
    [{ status: 400, code: 131008, type: 'OAuthException' }, 'permanent'],
  ] as const)('%j → %s', (failure, category) => {
    expect(categorizeWhatsAppError(failure)).toBe(category);
  });
});
