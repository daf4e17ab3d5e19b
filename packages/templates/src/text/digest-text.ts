import { digestItems, digestTitle, messageTitles, plainVariables, smsSegments, type JsonObject, type MessageType } from '@crm/core';
import { clampText, gsmPunctuation, lineText } from './text-values';
import { whatsAppLimits } from './text-types';

/**
 * The SMS and WhatsApp texts of a digest (`variables`: `{ clientName?, items: DigestItem[] }`),
 * moved here from the messaging worker's placeholder renderer with the same output.
 */

/** Each message type in a few lowercase words, for the list of a digest's SMS. */
const shortNames: Readonly<Record<MessageType, string>> = Object.freeze({
  welcome: 'welcome',
  budget_summary: 'budget summary ready',
  vendor_options: 'vendor options',
  selection_confirmation: 'selection confirmed',
  blueprint_delivery: 'event blueprint',
  error_notification: 'problem with your plan',
  reminder: 'reminder',
});

const capitalise = (text: string): string => text.charAt(0).toUpperCase() + text.slice(1);
const fitsOneSegment = (text: string): boolean => smsSegments(text).segments <= 1;
const signOff = 'Your event planning team';

/** A digest SMS and what it left out to fit one segment. */
export interface DigestSms {
  readonly body: string;
  /** `clientName` when the name was left out, `items` when some items are only counted. */
  readonly dropped: readonly string[];
}

/**
 * A digest's SMS: `Hi Ada, 3 updates on your event plan: budget summary ready; vendor options; reminder.`
 * Kept to one segment where possible: the name goes first, then items from the end, replaced
 * by `and N more`, so every item is either named or counted.
 *
 * @example digestSms({ clientName: 'Ada', items: [{ communicationId: 'c1', messageType: 'reminder', variables: {} }] }).body
 * // 'Hi Ada, 1 update on your event plan: reminder.'
 */
export function digestSms(variables: JsonObject): DigestSms {
  const name = gsmPunctuation(lineText(variables.clientName));
  const types = digestItems(variables).map((item) => item.messageType);
  const title = digestTitle(types.length);
  const names = types.map((type) => shortNames[type]);
  const sms = (withName: boolean, list: readonly string[]): string => {
    const hi = withName && name ? `Hi ${name},` : 'Hi,';
    return list.length > 0 ? `${hi} ${title}: ${list.join('; ')}.` : `${hi} ${title}.`;
  };
  const withoutName = name ? ['clientName'] : [];
  const full = sms(true, names);
  if (fitsOneSegment(full)) return { body: full, dropped: [] };
  const anonymous = sms(false, names);
  if (fitsOneSegment(anonymous)) return { body: anonymous, dropped: withoutName };
  for (let shown = names.length - 1; shown >= 1; shown--) {
    const text = sms(false, [...names.slice(0, shown), `and ${names.length - shown} more`]);
    if (fitsOneSegment(text)) return { body: text, dropped: [...withoutName, 'items'] };
  }
  // Not even one name fits: the title alone still counts every item.
  return { body: sms(false, []), dropped: [...withoutName, 'items'] };
}

/**
 * A digest's WhatsApp text: the bold digest title, the greeting, every item as a numbered line
 * with its title and its details below it (two spaces in), and a sign-off. Within WhatsApp's
 * 4,096 characters: when all of it does not fit, the details go first, then the last items,
 * counted as "…and N more updates".
 *
 * @example digestWhatsApp({ items: [{ communicationId: 'c1', messageType: 'reminder', variables: {} }] })
 * // '*1 update on your event plan*\n\nHere is what happened with your event plan:\n\n1. A reminder about your event plan\n\nYour event planning team'
 */
export function digestWhatsApp(variables: JsonObject): string {
  const name = clampText(lineText(variables.clientName), 200);
  const items = digestItems(variables);
  const intro = 'here is what happened with your event plan:';
  const head = [`*${digestTitle(items.length)}*`, '', name ? `Hello ${name}, ${intro}` : capitalise(intro), ''];
  const tail = items.length > 0 ? ['', signOff] : [signOff];
  const itemLine = (index: number): string => `${index + 1}. ${messageTitles[items[index]!.messageType]}`;
  const more = (count: number): string[] => (count > 0 ? [`…and ${count} more update${count === 1 ? '' : 's'}`] : []);
  const join = (body: readonly string[], hidden: number): string => [...head, ...body, ...more(hidden), ...tail].join('\n');
  const limit = whatsAppLimits.textBody;
  /** The length of the message without items. */
  const baseLength = join([], 0).length;

  // Every item with its details, while that fits.
  const detailed: string[] = [];
  let length = baseLength;
  let fits = true;
  for (const [index, item] of items.entries()) {
    const lines = [itemLine(index), ...plainVariables(item.variables).details.map((line) => `  ${line.replace(/\s+/g, ' ')}`)];
    length += lines.reduce((sum, line) => sum + line.length + 1, 0);
    if (length > limit) {
      fits = false;
      break;
    }
    detailed.push(...lines);
  }
  if (fits) return join(detailed, 0);

  // Titles only: as many items as fit, the rest counted.
  const titles: string[] = [];
  for (let index = 0; index < items.length; index++) {
    const line = itemLine(index);
    if (join([...titles, line], items.length - index - 1).length > limit) break;
    titles.push(line);
  }
  return join(titles, items.length - titles.length);
}
