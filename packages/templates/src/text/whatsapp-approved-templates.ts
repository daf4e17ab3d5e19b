import { digestItems, type JsonObject, type StoredMessageType } from '@crm/core';
import { digestSms } from './digest-text';
import { whatsAppLimits, type WhatsAppApprovedTemplate, type WhatsAppTemplateMessage } from './text-types';
import { clampText, lineText, linkOf, moneyText, shortenAtWord, variable, vendorsOf } from './text-values';

/**
 * The approved WhatsApp templates (one per message type, named `crm_<message_type>`), which the
 * engine sends instead of free text outside WhatsApp's 24-hour customer-service window. Their
 * bodies are registered with Meta as written here; a message fills the `{{n}}` placeholders with
 * {@link whatsAppTemplateMessage}. No body starts or ends with a placeholder, and every
 * parameter has a fallback, because Meta rejects empty parameters.
 */

interface ApprovedTemplate extends WhatsAppApprovedTemplate {
  /** The body parameters of a message's variables, before Meta's rules are applied. */
  readonly values: (variables: JsonObject) => readonly string[];
}

const text = (variables: JsonObject, key: string): string => lineText(variable(variables, key));
const or = (value: string, fallback: string): string => (value === '' ? fallback : value);
/** A free sentence ending in punctuation, so the body's next sentence reads on. */
const sentence = (value: string): string => (value === '' || /[.!?…]$/.test(value) ? value : `${value}.`);
const client = (variables: JsonObject): string => or(text(variables, 'clientName'), 'there');
const event = (variables: JsonObject): string => or(text(variables, 'eventName'), 'your event');

/** The template of a message type that has none of its own (none today: a guard for rows of a newer version). */
const UPDATE = 'update';
const update: ApprovedTemplate = {
  language: 'en',
  body: 'Hi {{1}}, there is an update on your event plan. Reply to this message to see it.',
  parameters: ['client name'],
  values: (v) => [client(v)],
};

const approved: Readonly<Record<StoredMessageType, ApprovedTemplate>> = {
  welcome: {
    language: 'en',
    body: 'Hi {{1}}, welcome to your event plan! {{2}} is planning {{3}} with you. We will keep you posted here; reply to this message any time.',
    parameters: ['client name', 'planner name', 'event name'],
    values: (v) => [client(v), or(text(v, 'plannerName'), 'Our team'), event(v)],
  },
  budget_summary: {
    language: 'en',
    body: 'Hi {{1}}, the budget for {{2}} is ready. Total: {{3}}. Reply to this message to see how it splits across categories.',
    parameters: ['client name', 'event name', 'total amount'],
    values: (v) => [client(v), event(v), or(moneyText(variable(v, 'total'), variable(v, 'currency')), 'to be confirmed')],
  },
  vendor_options: {
    language: 'en',
    body: 'Hi {{1}}, we have shortlisted vendors for {{2}}: {{3}}. Reply with the number of the one you choose.',
    parameters: ['client name', 'event name', 'the numbered options'],
    values: (v) => [
      client(v),
      event(v),
      or(
        vendorsOf(v)
          .map((vendor) => `${vendor.number}) ${[vendor.name, vendor.category, vendor.price].filter(Boolean).join(', ')}`)
          .join('; '),
        'reply to this message to see them',
      ),
    ],
  },
  selection_confirmation: {
    language: 'en',
    body: 'Hi {{1}}, your selection for {{2}} is confirmed: {{3}}. We will be in touch with next steps.',
    parameters: ['client name', 'event name', 'the vendor with category and price'],
    values: (v) => {
      const details = [text(v, 'category'), moneyText(variable(v, 'price'), variable(v, 'currency'))].filter(Boolean).join(', ');
      const vendor = text(v, 'vendorName');
      return [client(v), event(v), vendor === '' ? 'the vendor you chose' : details === '' ? vendor : `${vendor} (${details})`];
    },
  },
  blueprint_delivery: {
    language: 'en',
    body: 'Hi {{1}}, the event blueprint for {{2}} ({{3}}) is ready. {{4}} Reply to this message with any questions or changes.',
    parameters: ['client name', 'event name', 'event date', 'where to find it'],
    values: (v) => {
      const link = linkOf(v, ['blueprintUrl', 'shortUrl', 'link', 'url']);
      return [client(v), event(v), or(text(v, 'eventDate'), 'date to be confirmed'), link === '' ? 'We will send it to you here as soon as you reply.' : `View it here: ${link}`];
    },
  },
  error_notification: {
    language: 'en',
    body: 'Hi {{1}}, something went wrong with your event plan: {{2}} We are working on it. Questions? Write to {{3}} or reply to this message.',
    parameters: ['client name', 'what went wrong', 'support email'],
    values: (v) => [client(v), or(sentence(text(v, 'errorSummary')), 'we are looking into it.'), or(text(v, 'supportEmail'), 'our support team')],
  },
  reminder: {
    language: 'en',
    body: 'Hi {{1}}, a reminder about {{2}}: {{3}} Due: {{4}}. Reply to this message if you need more time.',
    parameters: ['client name', 'event name', 'reminder text', 'due date'],
    values: (v) => [client(v), event(v), or(sentence(text(v, 'reminderText')), 'please check your event plan.'), or(text(v, 'dueDate'), 'as soon as possible')],
  },
  digest: {
    language: 'en',
    body: 'Hi {{1}}, you have {{2}}. Reply to this message to see the details.',
    parameters: ['client name', 'the updates, counted and listed'],
    values: (v) => {
      // The digest SMS's list ("3 updates on your event plan: budget summary ready; …") without its greeting.
      const list = /^Hi[^,]*, (.*)\.$/.exec(digestSms({ items: v.items ?? [] }).body)?.[1] ?? '';
      return [client(v), digestItems(v).length === 0 || list === '' ? 'new updates on your event plan' : list];
    },
  },
};

/**
 * Every approved template by name (`crm_<message_type>`, and `crm_update` for a message type
 * without one of its own): its language, its body with
 * `{{1}}…{{n}}` placeholders and what each placeholder holds. For the docs and the sandbox.
 *
 * @example whatsAppApprovedTemplates.crm_reminder.parameters // ['client name', 'event name', 'reminder text', 'due date']
 */
export const whatsAppApprovedTemplates: Readonly<Record<string, WhatsAppApprovedTemplate>> = Object.freeze(
  Object.fromEntries(
    [...Object.entries(approved), [UPDATE, update] as const].map(([type, { language, body, parameters }]) => [whatsAppTemplateName(type), Object.freeze({ language, body, parameters: Object.freeze([...parameters]) })]),
  ),
);

/**
 * The name of a message type's approved template.
 *
 * @example whatsAppTemplateName('vendor_options') // 'crm_vendor_options'
 */
export function whatsAppTemplateName(messageType: string): string {
  return `crm_${messageType}`;
}

/**
 * A body parameter as Meta accepts it: one line (line breaks and tabs become spaces), no more
 * than 4 spaces in a row (every run of whitespace becomes one space), at most 1,024 characters
 * (shortened at a word boundary with "…"), never empty (`fallback` instead).
 *
 * @example templateParameter('Line one\n\tline two', 'x') // 'Line one line two'
 */
export function templateParameter(value: string, fallback: string): string {
  const clean = lineText(value);
  if (clean === '') return fallback;
  return clean.length <= whatsAppLimits.templateParameter ? clean : (shortenAtWord(clean, whatsAppLimits.templateParameter, '…') ?? clampText(clean, whatsAppLimits.templateParameter));
}

/**
 * A language code as Meta names template languages: `en`, `en_US`, `pt_BR` (a `-` becomes `_`,
 * the region upper-cased); anything that is not a language code is `en`.
 *
 * @example templateLanguage('pt-br') // 'pt_BR'
 * @example templateLanguage('') // 'en'
 */
export function templateLanguage(language: unknown): string {
  const match = typeof language === 'string' ? /^([a-z]{2,3})(?:[-_]([a-z]{2}|[a-z]{4}))?$/i.exec(language.trim()) : null;
  if (!match) return 'en';
  const [, base, region] = match;
  return region === undefined ? base!.toLowerCase() : `${base!.toLowerCase()}_${region.length === 2 ? region.toUpperCase() : region.charAt(0).toUpperCase() + region.slice(1).toLowerCase()}`;
}

/**
 * The approved template message for a message outside the 24-hour window: `crm_<message_type>`,
 * in `language` (as given, normalised; `en` when it is not a language code), with its body
 * parameters filled from the variables (each within Meta's rules, see {@link templateParameter}).
 * Missing or wrong-typed variables give the parameter's fallback ("there", "your event", …).
 *
 * @example whatsAppTemplateMessage('reminder', { clientName: 'Amelia', eventName: 'Gala', reminderText: 'Confirm the guest count', dueDate: 'Friday' }, 'en')
 * // { name: 'crm_reminder', language: 'en', bodyParameters: ['Amelia', 'Gala', 'Confirm the guest count.', 'Friday'] }
 */
export function whatsAppTemplateMessage(messageType: StoredMessageType, variables: JsonObject, language: string): WhatsAppTemplateMessage {
  const known = Object.hasOwn(approved, messageType);
  const template = known ? approved[messageType] : update;
  const name = whatsAppTemplateName(known ? messageType : UPDATE);
  const safe = typeof variables === 'object' && variables !== null && !Array.isArray(variables) ? variables : {};
  return {
    name,
    language: templateLanguage(language),
    bodyParameters: template.values(safe).map((value, index) => templateParameter(value, template.parameters[index] ?? '-')),
  };
}
