import { smsSegments, type JsonObject, type StoredMessageType } from '@crm/core';
import { ConciseTextGenerator } from './concise-text-generator';
import { digestSms, digestWhatsApp } from './digest-text';
import {
  blueprintReadySms,
  budgetReadySms,
  planProblemSms,
  reminderSms,
  selectionConfirmedSms,
  selectionNeededSms,
  updateSms,
  welcomeSms,
  type SmsTemplate,
} from './sms-texts';
import type { SmsText, TextChannel, WhatsAppContent } from './text-types';
import {
  blueprintReadyWhatsApp,
  budgetReadyWhatsApp,
  planProblemWhatsApp,
  reminderWhatsApp,
  selectionConfirmedWhatsApp,
  updateWhatsApp,
  vendorsReadyWhatsApp,
  welcomeWhatsApp,
  type WhatsAppTemplate,
} from './whatsapp-texts';

/**
 * The text template of every (message type, channel) pair, named `<what>_<channel>`. The six of
 * issue 7 are `welcome_sms`, `budget_ready_sms`, `vendors_ready_whatsapp`,
 * `selection_needed_sms` (vendor options by SMS: numbered, "Reply 1, 2 or 3"),
 * `blueprint_ready_whatsapp` and `reminder_sms`; the others complete the table so that every
 * message type can go on either channel.
 *
 * @example textTemplateNames.vendor_options.sms // 'selection_needed_sms'
 */
export const textTemplateNames: Readonly<Record<StoredMessageType, Readonly<Record<TextChannel, string>>>> = Object.freeze({
  welcome: Object.freeze({ sms: 'welcome_sms', whatsapp: 'welcome_whatsapp' }),
  budget_summary: Object.freeze({ sms: 'budget_ready_sms', whatsapp: 'budget_ready_whatsapp' }),
  vendor_options: Object.freeze({ sms: 'selection_needed_sms', whatsapp: 'vendors_ready_whatsapp' }),
  selection_confirmation: Object.freeze({ sms: 'selection_confirmed_sms', whatsapp: 'selection_confirmed_whatsapp' }),
  blueprint_delivery: Object.freeze({ sms: 'blueprint_ready_sms', whatsapp: 'blueprint_ready_whatsapp' }),
  error_notification: Object.freeze({ sms: 'plan_problem_sms', whatsapp: 'plan_problem_whatsapp' }),
  reminder: Object.freeze({ sms: 'reminder_sms', whatsapp: 'reminder_whatsapp' }),
  digest: Object.freeze({ sms: 'digest_sms', whatsapp: 'digest_whatsapp' }),
});

/** The template of a message type the table does not know (a row written by a newer version). */
const UPDATE_TEMPLATES: Readonly<Record<TextChannel, string>> = Object.freeze({ sms: 'update_sms', whatsapp: 'update_whatsapp' });

/**
 * The name of the text template of a message type on a channel.
 *
 * @example textTemplateName('budget_summary', 'sms') // 'budget_ready_sms'
 */
export function textTemplateName(messageType: StoredMessageType, channel: TextChannel): string {
  return (Object.hasOwn(textTemplateNames, messageType) ? textTemplateNames[messageType] : UPDATE_TEMPLATES)[channel];
}

const smsTemplates: Readonly<Record<string, SmsTemplate>> = Object.freeze({
  welcome_sms: welcomeSms,
  budget_ready_sms: budgetReadySms,
  selection_needed_sms: selectionNeededSms,
  selection_confirmed_sms: selectionConfirmedSms,
  blueprint_ready_sms: blueprintReadySms,
  plan_problem_sms: planProblemSms,
  reminder_sms: reminderSms,
  update_sms: updateSms,
});

const whatsAppTemplates: Readonly<Record<string, WhatsAppTemplate>> = Object.freeze({
  welcome_whatsapp: welcomeWhatsApp,
  budget_ready_whatsapp: budgetReadyWhatsApp,
  vendors_ready_whatsapp: vendorsReadyWhatsApp,
  selection_confirmed_whatsapp: selectionConfirmedWhatsApp,
  blueprint_ready_whatsapp: blueprintReadyWhatsApp,
  plan_problem_whatsapp: planProblemWhatsApp,
  reminder_whatsapp: reminderWhatsApp,
  update_whatsapp: updateWhatsApp,
});

const oneSegment = new ConciseTextGenerator({ maxSegments: 1 });
const asObject = (variables: unknown): JsonObject => (typeof variables === 'object' && variables !== null && !Array.isArray(variables) ? (variables as JsonObject) : {});

/**
 * A message's SMS: plain sentences fitted by the `ConciseTextGenerator` into one segment (160
 * GSM-7 septets, or 70 UTF-16 units once a character needs UCS-2) by dropping optional parts
 * and shortening names, never cutting a word or a link. `segments` > 1 only when even the
 * shortest form does not fit. Missing or wrong-typed variables leave their part out; it never
 * throws on variables.
 *
 * @example composeSms('budget_summary', { clientName: 'Amelia Hart', eventName: 'Gala', total: 18500, currency: 'USD' }).body
 * // 'Hi Amelia Hart, the budget for Gala is ready: $18,500 in total. Reply with any questions.'
 */
export function composeSms(messageType: StoredMessageType, variables: JsonObject): SmsText {
  const template = textTemplateName(messageType, 'sms');
  const safe = asObject(variables);
  if (template === 'digest_sms') {
    const { body, dropped } = digestSms(safe);
    const { encoding, segments, units } = smsSegments(body);
    return { template, body, encoding, segments, units, dropped };
  }
  const compose = smsTemplates[template] ?? updateSms;
  const { body, encoding, segments, units, dropped } = oneSegment.compose(compose(safe));
  return { template, body, encoding, segments, units, dropped };
}

/**
 * A message's WhatsApp content inside the 24-hour window: a formatted text (`*bold*` title,
 * short paragraphs, lists), or for vendor options reply buttons (1–3 vendors) or a list (4 and
 * more; over 10, the first 10 as rows and the rest named in the body). Within Meta's limits; it
 * never throws on variables. Outside the window, send {@link whatsAppTemplateMessage} instead.
 *
 * @example composeWhatsApp('vendor_options', sample.vendor_options).kind // 'buttons'
 */
export function composeWhatsApp(messageType: StoredMessageType, variables: JsonObject): WhatsAppContent {
  const template = textTemplateName(messageType, 'whatsapp');
  const safe = asObject(variables);
  if (template === 'digest_whatsapp') return { kind: 'text', template, body: digestWhatsApp(safe) };
  const compose = whatsAppTemplates[template] ?? updateWhatsApp;
  return { ...compose(safe), template } as WhatsAppContent;
}
