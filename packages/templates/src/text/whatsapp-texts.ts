import type { JsonObject } from '@crm/core';
import { ConciseTextGenerator, type TextPart } from './concise-text-generator';
import { optionReplyId } from './option-reply-id';
import { whatsAppLimits, type WhatsAppButton, type WhatsAppContent, type WhatsAppListRow } from './text-types';
import { budgetCategoriesOf, clampText, linkOf, moneyText, shortenAtWord, textOf, variable, vendorsOf, type VendorOption } from './text-values';

/**
 * The WhatsApp text templates: WhatsApp formatting (`*bold*` titles and names, short
 * paragraphs, `-` bullets and numbered lists) within Meta's limits. Vendor options are
 * interactive: reply buttons for 1–3 vendors, a list for 4–10, and for more than 10 a list of
 * the first 10 whose body names the others, to be answered with their number.
 */

/** A content without its template name: the registry adds it. */
export type WhatsAppBody = WhatsAppContent extends infer C ? (C extends WhatsAppContent ? Omit<C, 'template'> : never) : never;
/** Reads a message's variables into its WhatsApp content. */
export type WhatsAppTemplate = (variables: JsonObject) => WhatsAppBody;

/** Free texts (a reminder, an error summary) are kept to this many characters, shortened at a word boundary. */
const FREE_TEXT_MAX = 1500;
/** Names and titles are kept to this many characters. */
const NAME_MAX = 120;

const line = (variables: JsonObject, key: string, max: number = NAME_MAX): string => clampText(textOf(variables, key, false), max);
/** `*text*`, with any `*` inside removed so a name cannot end the bold early. */
const bold = (text: string): string => `*${text.replace(/\*/g, '')}*`;
const hi = (variables: JsonObject): string => {
  const name = line(variables, 'clientName');
  return name ? `Hi ${name}` : 'Hi';
};
/** The event's name in bold, or "your event". */
const eventOf = (variables: JsonObject): string => {
  const name = line(variables, 'eventName');
  return name ? bold(name) : 'your event';
};
const free = (variables: JsonObject, key: string): string => {
  const value = textOf(variables, key, false);
  return value.length <= FREE_TEXT_MAX ? value : (shortenAtWord(value, FREE_TEXT_MAX, '…') ?? clampText(value, FREE_TEXT_MAX));
};

const textGenerator = new ConciseTextGenerator({ maxLength: whatsAppLimits.textBody });
const interactiveGenerator = new ConciseTextGenerator({ maxLength: whatsAppLimits.interactiveBody });

/** Parts as one body within `generator`'s limit; if even the shortest does not fit, clamped at a word boundary. */
function bodyOf(parts: readonly TextPart[], generator: ConciseTextGenerator, max: number): string {
  const { body } = generator.compose({ parts });
  return clampText(body, max);
}
/** Paragraph separator. */
const P = '\n\n';

/** A plain text message from its parts. */
const textMessage = (parts: readonly TextPart[]): WhatsAppBody => ({ kind: 'text', body: bodyOf(parts, textGenerator, whatsAppLimits.textBody) });
const linkPart = (id: string, label: string, url: string): TextPart[] => (url ? [{ id, priority: 2, separator: P, variants: [`${label} ${url}`] }] : []);

/** `welcome_whatsapp`. */
export const welcomeWhatsApp: WhatsAppTemplate = (variables) => {
  const planner = line(variables, 'plannerName');
  const event = eventOf(variables);
  return textMessage([
    { id: 'title', required: true, variants: [bold('Welcome to your event plan')] },
    { id: 'greeting', required: true, separator: P, variants: [`${hi(variables)}, welcome! ${planner ? `${planner} is your planner for ${event}.` : `We have started planning ${event}.`}`] },
    { id: 'updates', required: true, separator: P, variants: ['We will keep you posted here: your budget, vendor options and event blueprint. Reply to this chat any time with questions.'] },
    ...linkPart('link', 'Your plan:', linkOf(variables, ['planUrl', 'shortUrl', 'link', 'url'])),
  ]);
};

/** How many budget categories a WhatsApp message lists. */
const MAX_CATEGORIES = 30;

/** `budget_ready_whatsapp`: the categories as a bulleted list and the total in bold. */
export const budgetReadyWhatsApp: WhatsAppTemplate = (variables) => {
  const eventName = line(variables, 'eventName');
  const total = moneyText(variable(variables, 'total'), variable(variables, 'currency'));
  const categories = budgetCategoriesOf(variables);
  const shown = categories.slice(0, MAX_CATEGORIES).map((category) => `- ${clampText(category.name, NAME_MAX)}${category.amount ? `: ${clampText(category.amount, NAME_MAX)}` : ''}`);
  if (categories.length > MAX_CATEGORIES) shown.push(`- …and ${categories.length - MAX_CATEGORIES} more`);
  return textMessage([
    { id: 'title', required: true, variants: [bold(eventName ? `Your budget for ${eventName}` : 'Your budget summary is ready')] },
    { id: 'greeting', required: true, separator: P, variants: [`${hi(variables)}, your budget is ready.${shown.length > 0 ? ' Here is how it splits across categories:' : ''}`] },
    ...(shown.length > 0 ? [{ id: 'categories', required: true, separator: P, variants: [shown.join('\n')] }] : []),
    ...(total ? [{ id: 'total', required: true, separator: P, variants: [bold(`Total: ${clampText(total, NAME_MAX)}`)] }] : []),
    { id: 'note', required: true, separator: P, variants: ['Amounts are estimates until vendors confirm. Reply here if a category looks off.'] },
    ...linkPart('link', 'Details:', linkOf(variables, ['budgetUrl', 'shortUrl', 'link', 'url'])),
  ]);
};

/** The label of the list message's button. */
export const VENDOR_LIST_BUTTON = 'Choose a vendor';
/** The footer of vendor options: under Meta's 60 characters. */
export const VENDOR_FOOTER = 'Prices are quotes for your date and guest count.';

/**
 * One vendor as a numbered line of the body (name, category, price; shorter: the name alone) and
 * its link on the next line as an optional part, so that every link leaves before any detail.
 */
function vendorLines(vendor: VendorOption, separator: string, priority: number, required: boolean): TextPart[] {
  const name = bold(clampText(vendor.name, NAME_MAX));
  const details = [vendor.category, vendor.price].map((value) => clampText(value, NAME_MAX)).filter(Boolean).join(', ');
  const head = `${vendor.number}. ${name}`;
  return [
    { id: `option${vendor.number}`, required, priority, separator, variants: details ? [`${head}, ${details}`, head] : [head] },
    // Only a listed vendor's link: a link must not outlive its line (an optional line could leave before it).
    ...(vendor.url && required ? [{ id: `option${vendor.number}Link`, priority: priority - 1000, separator: '\n', variants: [vendor.url] }] : []),
  ];
}

/** Button titles: the vendor names within 20 characters; numbered when two would read the same. */
function buttonsOf(vendors: readonly VendorOption[]): WhatsAppButton[] {
  const plain = vendors.map((vendor) => clampText(vendor.name, whatsAppLimits.buttonTitle));
  const distinct = new Set(plain.map((title) => title.toLowerCase())).size === plain.length;
  return vendors.map((vendor, index) => ({
    id: optionReplyId(vendor.number),
    title: distinct ? plain[index]! : clampText(`${vendor.number}. ${vendor.name}`, whatsAppLimits.buttonTitle),
  }));
}

/** A list row per vendor: the name within 24 characters, category and price within 72. */
function rowOf(vendor: VendorOption): WhatsAppListRow {
  const description = [vendor.category, vendor.price].filter(Boolean).join(' · ');
  return {
    id: optionReplyId(vendor.number),
    title: clampText(vendor.name, whatsAppLimits.rowTitle),
    ...(description && { description: clampText(description, whatsAppLimits.rowDescription) }),
  };
}

/**
 * `vendors_ready_whatsapp`: the options numbered in the body (name, category, price, link), and
 * reply buttons (1–3 vendors) or a list (4 or more). With more than 10 vendors the list holds the
 * first 10 and the body says how many more there are and that a reply with their number picks
 * them. Links and then details leave the body first when it would pass 1,024 characters.
 */
export const vendorsReadyWhatsApp: WhatsAppTemplate = (variables) => {
  const vendors = vendorsOf(variables);
  const eventName = line(variables, 'eventName', 60);
  const title: TextPart = { id: 'title', required: true, variants: [bold(eventName ? `Vendor options for ${eventName}` : 'Vendor options for your event'), bold('Vendor options for your event')] };
  if (vendors.length === 0) {
    const link = linkOf(variables, ['optionsUrl', 'shortUrl', 'link', 'url']);
    return textMessage([
      title,
      { id: 'greeting', required: true, separator: P, variants: [`${hi(variables)}, we have vendor options for ${eventOf(variables)}.`] },
      { id: 'next', required: true, separator: P, variants: [link ? `See them here: ${link}` : 'Reply to this message and we will send them to you.'] },
    ]);
  }
  const listed = vendors.slice(0, whatsAppLimits.listRows);
  const extra = vendors.slice(whatsAppLimits.listRows);
  const count = vendors.length === 1 ? 'a vendor' : `${vendors.length} vendors`;
  const instruction =
    vendors.length <= whatsAppLimits.buttons
      ? 'Tap a button to choose, or reply with its number.'
      : extra.length === 0
        ? `Tap ${bold(VENDOR_LIST_BUTTON)} to pick one, or reply with its number.`
        : `The list shows options 1-${listed.length}; there ${extra.length === 1 ? 'is 1 more' : `are ${extra.length} more`} (${listed.length + 1}-${vendors.length}). Tap ${bold(VENDOR_LIST_BUTTON)} or reply with any number from 1 to ${vendors.length}.`;
  const body = bodyOf(
    [
      title,
      { id: 'greeting', required: true, separator: P, variants: [`${hi(variables)}, we have shortlisted ${count} for you:`] },
      ...listed.flatMap((vendor, index) => vendorLines(vendor, index === 0 ? P : '\n', 2, true)),
      // Beyond the list: each is optional, the last ones leave first.
      ...extra.flatMap((vendor) => vendorLines(vendor, '\n', -vendor.number, false)),
      { id: 'instruction', required: true, separator: P, variants: [instruction] },
    ],
    interactiveGenerator,
    whatsAppLimits.interactiveBody,
  );
  if (vendors.length <= whatsAppLimits.buttons) return { kind: 'buttons', body, footer: VENDOR_FOOTER, buttons: buttonsOf(vendors) };
  return { kind: 'list', body, footer: VENDOR_FOOTER, buttonLabel: VENDOR_LIST_BUTTON, rows: listed.map(rowOf) };
};

/** `selection_confirmed_whatsapp`. */
export const selectionConfirmedWhatsApp: WhatsAppTemplate = (variables) => {
  const vendor = line(variables, 'vendorName');
  const category = line(variables, 'category');
  const price = clampText(moneyText(variable(variables, 'price'), variable(variables, 'currency')), NAME_MAX);
  const details = [...(category ? [`- Category: ${category}`] : []), ...(price ? [`- Price: ${price}`] : [])];
  return textMessage([
    { id: 'title', required: true, variants: [bold('Your selection is confirmed')] },
    {
      id: 'greeting',
      required: true,
      separator: P,
      variants: [vendor ? `${hi(variables)}, ${bold(vendor)} is confirmed for ${eventOf(variables)}.` : `${hi(variables)}, your selection for ${eventOf(variables)} is confirmed.`],
    },
    ...(details.length > 0 ? [{ id: 'details', required: true, separator: P, variants: [details.join('\n')] }] : []),
    { id: 'next', required: true, separator: P, variants: ['We will be in touch with next steps. Reply here with any questions.'] },
  ]);
};

/** `blueprint_ready_whatsapp`. */
export const blueprintReadyWhatsApp: WhatsAppTemplate = (variables) => {
  const date = line(variables, 'eventDate');
  const link = linkOf(variables, ['blueprintUrl', 'shortUrl', 'link', 'url']);
  return textMessage([
    { id: 'title', required: true, variants: [bold('Your event blueprint is ready')] },
    { id: 'greeting', required: true, separator: P, variants: [`${hi(variables)}, the blueprint for ${eventOf(variables)} is ready.`] },
    ...(date ? [{ id: 'date', required: true, separator: P, variants: [`Event date: ${bold(date)}`] }] : []),
    ...linkPart('link', 'View it here:', link),
    { id: 'changes', required: true, separator: P, variants: ['Reply here if you would like any changes.'] },
  ]);
};

/** `plan_problem_whatsapp` (error notification). */
export const planProblemWhatsApp: WhatsAppTemplate = (variables) => {
  const summary = free(variables, 'errorSummary');
  const email = line(variables, 'supportEmail');
  const contact = /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email) ? `Questions? Reply to this chat or write to ${email}.` : 'Questions? Reply to this chat.';
  return textMessage([
    { id: 'title', required: true, variants: [bold('Something went wrong with your plan')] },
    { id: 'greeting', required: true, separator: P, variants: [`${hi(variables)}, something went wrong with your event plan${summary ? ':' : '.'}`] },
    ...(summary ? [{ id: 'summary', required: true, separator: P, variants: [summary] }] : []),
    { id: 'onIt', required: true, separator: P, variants: [`We are working on it and will update you here. ${contact}`] },
  ]);
};

/** `reminder_whatsapp`. */
export const reminderWhatsApp: WhatsAppTemplate = (variables) => {
  const eventName = line(variables, 'eventName');
  const reminder = free(variables, 'reminderText');
  const due = line(variables, 'dueDate');
  return textMessage([
    { id: 'title', required: true, variants: [bold(eventName ? `Reminder: ${eventName}` : 'A reminder about your event plan')] },
    { id: 'greeting', required: true, separator: P, variants: [`${hi(variables)}, this is a reminder about ${eventOf(variables)}${reminder ? ':' : '.'}`] },
    ...(reminder ? [{ id: 'reminder', required: true, separator: P, variants: [reminder] }] : []),
    ...(due ? [{ id: 'due', required: true, separator: P, variants: [`Due: ${bold(due)}`] }] : []),
    ...linkPart('link', 'Details:', linkOf(variables, ['shortUrl', 'link', 'url'])),
    { id: 'reply', required: true, separator: P, variants: ['Already done? Then you can ignore this message. Need more time? Reply and let us know.'] },
  ]);
};

/** For a message type without a template of its own. */
export const updateWhatsApp: WhatsAppTemplate = (variables) =>
  textMessage([
    { id: 'title', required: true, variants: [bold('An update on your event plan')] },
    { id: 'greeting', required: true, separator: P, variants: [`${hi(variables)}, there is an update on your event plan. Reply here with any questions.`] },
  ]);
