import type { z } from 'zod';
import { CommunicationRequestSchema, preferencesInputSchema, type MessageChannel as CoreChannel, type MessageType as CoreMessageType } from '@crm/core';
import type { CallbackEventType, ClientRepliedEventData, CommunicationEventData as DbCommunicationEventData } from '@crm/db';
import type {
  ClientRepliedData,
  CommunicationEventData,
  CommunicationRequest,
  CrmEventType,
  MessageChannel,
  MessageType,
  PreferencesInput,
} from '@crm/client';

// The SDK's hand-written request types against the engine's zod schemas: at compile time (these
// assignments fail `tsc -p tsconfig.test.json` when they drift apart) and at run time (the
// schemas accept bodies typed with the SDK's types).

type Equal<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const assert = <T extends true>(value: T): T => value;

// Everything the schema accepts is a CommunicationRequest, and the other way round.
assert<Equal<CommunicationRequest, z.input<typeof CommunicationRequestSchema>>>(true);
assert<Equal<MessageType, CoreMessageType>>(true);
assert<Equal<MessageChannel, CoreChannel>>(true);
// Preferences: the SDK's input type is the schema's input (phone and language as strings).
assert<Equal<PreferencesInput, z.input<typeof preferencesInputSchema>>>(true);
// The event types a subscription may ask for are the engine's.
assert<Equal<CrmEventType, CallbackEventType>>(true);
// The events' data have the fields the engine builds (packages/db, callback-repository.ts).
assert<Equal<keyof CommunicationEventData, keyof DbCommunicationEventData>>(true);
assert<Equal<keyof ClientRepliedData, keyof ClientRepliedEventData>>(true);
export const repliedFits = (data: ClientRepliedEventData): ClientRepliedData => data;

const representative: CommunicationRequest[] = [
  { clientId: 'client-42', planId: 'plan-7', messageType: 'welcome' },
  {
    clientId: 'client-42', planId: 'plan-7', messageType: 'budget_summary', urgency: 'normal',
    variables: { clientName: 'Ada', total: 18500, currency: 'EUR', lines: [{ label: 'Venue', amount: 9000 }], note: null },
    channel: null, sendAt: null, attachments: [], idempotencyKey: 'plan-7:budget:v1', metadata: { workflowRunId: 'run-1', step: 3 },
  },
  {
    clientId: 'c.1:x-y_z', planId: 'p', messageType: 'vendor_options', urgency: 'critical', channel: 'whatsapp',
    sendAt: '2026-11-25T10:00:00+01:00', recipient: { email: 'ada@example.com', phone: '+14155550123', timezone: 'Europe/Lisbon' },
  },
  { clientId: 'client-42', planId: 'plan-7', messageType: 'blueprint_delivery', attachments: ['0b9a0000-0000-4000-8000-000000000001'], recipient: null, idempotencyKey: null },
  { clientId: 'client-42', planId: 'plan-7', messageType: 'reminder', urgency: 'low', recipient: { phone: '+351912345678' } },
];

describe('CommunicationRequest', () => {
  it.each(representative.map((body, index) => [index, body] as const))('body %i is accepted by CommunicationRequestSchema', (_index, body) => {
    const parsed = CommunicationRequestSchema.safeParse(body);
    expect(parsed.error?.issues).toBeUndefined();
    expect(parsed.success).toBe(true);
  });

  it('what the schema outputs (defaults filled in) is a request too', () => {
    const output: CommunicationRequest = CommunicationRequestSchema.parse(representative[0]);
    expect(output).toMatchObject({ urgency: 'normal', channel: null, variables: {}, attachments: [] });
  });
});

describe('PreferencesInput', () => {
  it('a full input is accepted by preferencesInputSchema', () => {
    const input: PreferencesInput = {
      clientId: 'client-42', channels: ['whatsapp', 'email'], timezone: 'Europe/Lisbon', quietHours: { start: '22:00', end: '07:30' },
      optOuts: ['sms'], language: 'pt-BR', batching: true, email: 'ada@example.com', phone: '+351 912 345 678',
    };
    expect(preferencesInputSchema.safeParse(input).success).toBe(true);
    const resets: PreferencesInput = { clientId: 'client-42', channels: null, timezone: null, quietHours: null, email: null, phone: null };
    expect(preferencesInputSchema.safeParse(resets).success).toBe(true);
  });
});
