import type { JsonObject } from '@crm/core';
import { slot, type ConciseTextInput, type ShortenableName, type TextPart, type TextPiece } from './concise-text-generator';
import { budgetCategoriesOf, linkOf, moneyText, personNameForms, shortenAtWord, textOf, unique, variable, vendorsOf, type VendorOption } from './text-values';

/**
 * The SMS text templates: each turns a message's variables into the parts and names that the
 * `ConciseTextGenerator` fits into one segment. Plain sentences, no markdown; a link only where
 * the variables give one for the whole message (`shortUrl`, `link`, or the type's own such as
 * `blueprintUrl`). A vendor's own page is not put in an SMS: there are up to three of them and
 * each is longer than the room left; the SMS numbers the options instead ("Reply 1, 2 or 3"), and
 * the email or WhatsApp message carries the links.
 *
 * What gives way first, on the generator's priority scale (lower first):
 *
 * | priority | step |
 * |---|---|
 * | 0 | the client's full name → first name ("Maximilian Alexander von …" → "Maximilian") |
 * | 10 | courtesy sentences ("Reply with any questions.") |
 * | 20 | the event's name → "your event"; a planner's full name → first name |
 * | 30 | vendor categories (then 35: a vendor's name → its first words within 24 characters) |
 * | 40 | links |
 * | 50 | the client's name → none ("Hi,"): this also ends UCS-2 for a name such as "Zoë" |
 * | 55 | a reminder's text, shortened at a word boundary with "..." (required: never left out) |
 * | 60 | due date, error summary (shortened, then out), the event date, "Reply STOP to opt out." |
 * | 70 | vendor prices (then 75: vendor names → first words within 14 characters) |
 *
 * Then whatever still fits is taken back, most important first.
 */

/** Reads a message's variables into what the generator composes. */
export type SmsTemplate = (variables: JsonObject) => ConciseTextInput;

const FULL_NAME = 0;
const COURTESY = 10;
const EVENT_NAME = 20;
const DETAIL = 30;
const VENDOR_NAME = 35;
const LINK = 40;
const CLIENT_NAME = 50;
const REMINDER_TEXT = 55;
const IMPORTANT = 60;
const PRICE = 70;
const VENDOR_FIRST_WORDS = 75;

/** A variable as SMS text: one line, GSM-7 punctuation. */
const text = (variables: JsonObject, key: string): string => textOf(variables, key, true);

/** The client's name (full, first, none) and the event's (then "your event"). */
function commonNames(variables: JsonObject): Record<string, ShortenableName> {
  const eventName = text(variables, 'eventName');
  const client = personNameForms(text(variables, 'clientName'));
  return {
    // Three forms (full, first, none) or two (one word: the name, none).
    client: { forms: client, priority: client.length > 2 ? [FULL_NAME, CLIENT_NAME] : CLIENT_NAME },
    event: { forms: unique([eventName || 'your event', 'your event']), priority: EVENT_NAME },
  };
}

/** `Hi Amelia` / `Hi` before the rest of the first sentence. */
const hi: readonly TextPiece[] = ['Hi', slot('client', ' ')];

/** A vendor's name for an SMS: whole, then its first words within 24 characters, then within 14. */
function vendorName(name: string): ShortenableName {
  const forms = [name];
  const priority: number[] = [];
  for (const [max, step] of [[24, VENDOR_NAME], [14, VENDOR_FIRST_WORDS]] as const) {
    const shorter = shortenAtWord(name, max);
    if (shorter !== null && shorter.length < (forms[forms.length - 1] ?? '').length) {
      forms.push(shorter);
      priority.push(step);
    }
  }
  return { forms, priority };
}

/** A link part: dropped whole when it does not fit, never cut. */
const linkPart = (label: string, url: string): TextPart[] => (url === '' ? [] : [{ id: 'link', priority: LINK, variants: [`${label} ${url}`] }]);

/** A free text (reminder, error summary) whole, then shortened at word boundaries with "...". */
const freeTextVariants = (value: string, sizes: readonly number[]): string[] => {
  const sentence = /[.!?]$/.test(value) ? value : `${value}.`;
  return unique([sentence, ...sizes.flatMap((size) => (size < value.length ? (shortenAtWord(value, size) ?? []) : []))]);
};

/**
 * The "Reply …" instruction for `count` numbered options.
 *
 * @example replyInstruction(3) // 'Reply 1, 2 or 3.'
 */
export function replyInstruction(count: number): string {
  if (count <= 1) return 'Reply 1 to choose it.';
  if (count === 2) return 'Reply 1 or 2.';
  if (count === 3) return 'Reply 1, 2 or 3.';
  return `Reply 1-${count}.`;
}

/**
 * `welcome_sms`: "Hi Amelia Hart, welcome! Jordan Reyes will plan Hart & Osei Wedding with you. We will
 * keep you posted here. Reply STOP to opt out."
 */
export const welcomeSms: SmsTemplate = (variables) => {
  const planner = text(variables, 'plannerName');
  const general: TextPiece[] = ['We are planning ', slot('event'), ' with you.'];
  return {
    names: { ...commonNames(variables), ...(planner && { planner: { forms: unique([planner, personNameForms(planner)[1] || planner]), priority: EVENT_NAME } }) },
    parts: [
      { id: 'greeting', required: true, variants: [[...hi, ', welcome!']] },
      { id: 'planner', required: true, priority: IMPORTANT, variants: planner ? [[slot('planner'), ' will plan ', slot('event'), ' with you.'], general] : [general] },
      { id: 'updates', priority: COURTESY, variants: ['We will keep you posted here.'] },
      ...linkPart('Your plan:', linkOf(variables, ['planUrl', 'shortUrl', 'link', 'url'])),
      { id: 'optOut', priority: IMPORTANT, variants: ['Reply STOP to opt out.'] },
    ],
  };
};

/**
 * `budget_ready_sms`: "Hi Amelia Hart, the budget for Hart & Osei Wedding is ready: $18,500 in total.
 * Biggest costs: Venue $7,200, Catering $5,400, Photography $2,600."
 */
export const budgetReadySms: SmsTemplate = (variables) => {
  const total = moneyText(variable(variables, 'total'), variable(variables, 'currency'), { gsm: true });
  const biggest = budgetCategoriesOf(variables, { gsm: true })
    .filter((category) => category.amount !== '')
    .sort((a, b) => b.value - a.value)
    .slice(0, 3);
  const categoryVariants = biggest.map((_, index) => {
    const shown = biggest.slice(0, biggest.length - index);
    return `${shown.length === 1 ? 'Biggest cost' : 'Biggest costs'}: ${shown.map((category) => `${category.name} ${category.amount}`).join(', ')}.`;
  });
  return {
    names: commonNames(variables),
    parts: [
      { id: 'headline', required: true, variants: [[...hi, ', the budget for ', slot('event'), total ? ` is ready: ${total} in total.` : ' is ready.']] },
      ...(categoryVariants.length > 0 ? [{ id: 'categories', priority: DETAIL, variants: categoryVariants }] : []),
      ...linkPart('Details:', linkOf(variables, ['budgetUrl', 'shortUrl', 'link', 'url'])),
      { id: 'questions', priority: COURTESY, variants: ['Reply with any questions.'] },
    ],
  };
};

/**
 * `selection_needed_sms` (vendor options), one option a line:
 *
 * ```
 * Hi Amelia Hart, vendors for Hart & Osei Wedding:
 * 1) Harbourview Hall, $7,200
 * 2) Saffron Table Catering, $54 per guest
 * 3) Lumen Studio, $2,600
 * Reply 1, 2 or 3.
 * ```
 *
 * Every option is listed (a client cannot pick one they were not shown); categories go first,
 * then names shorten, then prices. A link to all the options (`optionsUrl`, `shortUrl`, `link`)
 * is added when it fits. Many options (more than about five) may not fit one segment: they are
 * sent in more, never left out.
 */
export const selectionNeededSms: SmsTemplate = (variables) => {
  const vendors = vendorsOf(variables, { gsm: true });
  const names = commonNames(variables);
  const link = linkPart('Details:', linkOf(variables, ['optionsUrl', 'shortUrl', 'link']));
  if (vendors.length === 0) {
    return { names, parts: [{ id: 'headline', required: true, variants: [[...hi, ', we have vendor options for ', slot('event'), '.']] }, ...link] };
  }
  const list = (details: (vendor: VendorOption) => string): TextPiece[] =>
    vendors.flatMap((vendor, index) => {
      const detail = details(vendor);
      return [index === 0 ? '' : '\n', `${vendor.number}) `, slot(`vendor${vendor.number}`), detail ? `, ${detail}` : ''];
    });
  const hasCategory = vendors.some((vendor) => vendor.category !== '');
  const hasPrice = vendors.some((vendor) => vendor.price !== '');
  const variants = [
    ...(hasCategory ? [list((vendor) => [vendor.category, vendor.price].filter(Boolean).join(', '))] : []),
    ...(hasPrice ? [list((vendor) => vendor.price)] : []),
    list(() => ''),
  ];
  for (const vendor of vendors) names[`vendor${vendor.number}`] = vendorName(vendor.name);
  return {
    names,
    parts: [
      { id: 'headline', required: true, variants: [[...hi, ', vendors for ', slot('event'), ':']] },
      // One part for all the options, so they shorten alike.
      { id: 'options', required: true, separator: '\n', priority: hasCategory ? [DETAIL, PRICE] : PRICE, variants },
      { id: 'reply', required: true, separator: '\n', variants: [replyInstruction(vendors.length)] },
      ...link,
    ],
  };
};

/**
 * `selection_confirmed_sms`: "Hi Amelia Hart, Lumen Studio (Photography, $2,600) is confirmed for
 * Hart & Osei Wedding. We will be in touch with next steps."
 */
export const selectionConfirmedSms: SmsTemplate = (variables) => {
  const vendor = text(variables, 'vendorName');
  const category = text(variables, 'category');
  const price = moneyText(variable(variables, 'price'), variable(variables, 'currency'), { gsm: true });
  const names = commonNames(variables);
  let headline: TextPart;
  if (vendor) {
    names.vendor = vendorName(vendor);
    const details = unique([[category, price].filter(Boolean).join(', '), price, '']);
    headline = {
      id: 'headline',
      required: true,
      priority: category && price ? [DETAIL, PRICE] : PRICE,
      variants: details.map((detail) => [...hi, ', ', slot('vendor'), detail ? ` (${detail})` : '', ' is confirmed for ', slot('event'), '.']),
    };
  } else headline = { id: 'headline', required: true, variants: [[...hi, ', your selection for ', slot('event'), ' is confirmed.']] };
  return { names, parts: [headline, { id: 'nextSteps', priority: COURTESY, variants: ['We will be in touch with next steps.'] }] };
};

/**
 * `blueprint_ready_sms`: "Hi Amelia Hart, the blueprint for Hart & Osei Wedding (Saturday,
 * 12 September 2026) is ready. View it: https://… Reply with any changes."
 */
export const blueprintReadySms: SmsTemplate = (variables) => {
  const date = text(variables, 'eventDate');
  const headline = (withDate: boolean): TextPiece[] => [...hi, ', the blueprint for ', slot('event'), withDate ? ` (${date}) is ready.` : ' is ready.'];
  return {
    names: commonNames(variables),
    parts: [
      { id: 'headline', required: true, priority: IMPORTANT, variants: date ? [headline(true), headline(false)] : [headline(false)] },
      ...linkPart('View it:', linkOf(variables, ['blueprintUrl', 'shortUrl', 'link', 'url'])),
      { id: 'changes', priority: COURTESY, variants: ['Reply with any changes.'] },
    ],
  };
};

/**
 * `plan_problem_sms` (error notification): "Hi Amelia Hart, something went wrong with your event
 * plan. We could not reach the venue's booking system to hold your date. We are on it.
 * Questions? support@…"
 */
export const planProblemSms: SmsTemplate = (variables) => {
  const summary = text(variables, 'errorSummary');
  const email = text(variables, 'supportEmail');
  return {
    names: commonNames(variables),
    parts: [
      { id: 'headline', required: true, variants: [[...hi, ', something went wrong with your event plan.']] },
      ...(summary ? [{ id: 'summary', priority: IMPORTANT, variants: freeTextVariants(summary, [100, 60]) }] : []),
      { id: 'onIt', priority: COURTESY, variants: ['We are on it.'] },
      ...(/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email) ? [{ id: 'contact', priority: LINK, variants: [`Questions? ${email}`] }] : []),
    ],
  };
};

/**
 * `reminder_sms`: "Hi Amelia Hart, a reminder for Hart & Osei Wedding: Please confirm your final
 * guest count with the caterer. Due: Friday, 14 August 2026." A long reminder is shortened at a
 * word boundary with "..." (it is required: a reminder without its text says nothing), before
 * the due date is given up.
 */
export const reminderSms: SmsTemplate = (variables) => {
  const reminder = text(variables, 'reminderText');
  const due = text(variables, 'dueDate');
  return {
    names: commonNames(variables),
    parts: [
      { id: 'headline', required: true, variants: [[...hi, reminder ? ', a reminder for ' : ', a reminder about ', slot('event'), reminder ? ':' : '.']] },
      // Shortened before the due date goes: the date says more than the reminder's last words.
      ...(reminder ? [{ id: 'reminder', required: true, priority: REMINDER_TEXT, variants: freeTextVariants(reminder, [100, 70, 45, 25]) }] : []),
      ...(due ? [{ id: 'due', priority: IMPORTANT, variants: [`Due: ${due}.`] }] : []),
      ...linkPart('Details:', linkOf(variables, ['shortUrl', 'link', 'url'])),
      { id: 'moreTime', priority: COURTESY, variants: ['Reply if you need more time.'] },
    ],
  };
};

/** For a message type without a template of its own: "Hi Amelia, there is an update on your event plan." */
export const updateSms: SmsTemplate = (variables) => ({
  names: commonNames(variables),
  parts: [{ id: 'headline', required: true, variants: [[...hi, ', there is an update on your event plan.']] }],
});
