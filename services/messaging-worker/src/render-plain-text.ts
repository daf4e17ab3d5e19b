import {
  digestItems,
  digestMessageType,
  digestTitle,
  messageTitles,
  plainVariables,
  smsSegments,
  type JsonObject,
  type MessageType,
  type StoredMessageType,
} from '@crm/core';

/** What each message type says, as the rest of a sentence after the greeting. */
const headlines: Readonly<Record<MessageType, string>> = {
  welcome: 'welcome! We have started planning your event and will keep you posted here.',
  budget_summary: 'your budget summary is ready.',
  vendor_options: 'we have vendor options for your event.',
  selection_confirmation: 'your selection is confirmed.',
  blueprint_delivery: 'your event blueprint is ready.',
  error_notification: 'something went wrong with your plan. We are on it.',
  reminder: 'a reminder about your event plan.',
};

/** Each message type in a few lowercase words, for the list of a digest's SMS. */
const shortNames: Readonly<Record<MessageType, string>> = {
  welcome: 'welcome',
  budget_summary: 'budget summary ready',
  vendor_options: 'vendor options',
  selection_confirmation: 'selection confirmed',
  blueprint_delivery: 'event blueprint',
  error_notification: 'problem with your plan',
  reminder: 'reminder',
};

const capitalise = (text: string): string => text.charAt(0).toUpperCase() + text.slice(1);
const signOff = 'Your event planning team';
const fitsOneSegment = (text: string): boolean => smsSegments(text).segments <= 1;

/**
 * A digest's WhatsApp text: the bold digest title, the greeting, every item as a numbered line
 * with its title and its details below it (two spaces in), and a sign-off.
 */
function digestWhatsApp(name: string, items: readonly { readonly messageType: MessageType; readonly variables: JsonObject }[]): string {
  const intro = 'here is what happened with your event plan:';
  const lines = [`*${digestTitle(items.length)}*`, '', name ? `Hello ${name}, ${intro}` : capitalise(intro), ''];
  items.forEach((item, index) => {
    lines.push(`${index + 1}. ${messageTitles[item.messageType]}`, ...plainVariables(item.variables).details.map((line) => `  ${line}`));
  });
  if (items.length > 0) lines.push('');
  lines.push(signOff);
  return lines.join('\n');
}

/**
 * A digest's SMS: `Hi Ada, 3 updates on your event plan: budget summary ready; vendor options; reminder.`
 * Kept to one segment where possible: the name goes first, then items from the end, replaced
 * by `and N more`, so every item is either named or counted.
 */
function digestSms(name: string, types: readonly MessageType[]): string {
  const title = digestTitle(types.length);
  const names = types.map((type) => shortNames[type]);
  const sms = (withName: boolean, list: readonly string[]): string => {
    const hi = withName && name ? `Hi ${name},` : 'Hi,';
    return list.length > 0 ? `${hi} ${title}: ${list.join('; ')}.` : `${hi} ${title}.`;
  };
  const full = sms(true, names);
  if (fitsOneSegment(full)) return full;
  const anonymous = sms(false, names);
  if (fitsOneSegment(anonymous)) return anonymous;
  for (let shown = names.length - 1; shown >= 1; shown--) {
    const text = sms(false, [...names.slice(0, shown), `and ${names.length - shown} more`]);
    if (fitsOneSegment(text)) return text;
  }
  // Not even one name fits: the title alone still counts every item.
  return sms(false, []);
}

/**
 * The walking skeleton's SMS and WhatsApp text per message type, until the templates issue
 * brings real ones (as `renderPlainEmail` does for email).
 *
 * - `sms`: one line, `Hi Ada, your budget summary is ready. total: 18500, currency: EUR`, kept
 *   to one segment where possible: details are dropped from the end, then the name, until it
 *   fits (160 GSM-7 characters, or 70 once any character needs UCS-2); a headline alone that
 *   does not fit is sent as it is, in more segments.
 * - `whatsapp`: a bold title, the greeting, the details one per line and a sign-off.
 *
 * A `digest` (`variables`: `{ clientName?, items: DigestItem[] }`) lists its items in order:
 * on WhatsApp numbered with their titles and details, on SMS as
 * `Hi Ada, 3 updates on your event plan: budget summary ready; vendor options; reminder.`,
 * which drops the name first and then names as many items as fit, followed by `and N more`.
 *
 * @example renderPlainText('budget_summary', { clientName: 'Ada', total: 18500 }, 'sms')
 * // 'Hi Ada, your budget summary is ready. total: 18500'
 */
export function renderPlainText(messageType: StoredMessageType, variables: JsonObject, channel: 'sms' | 'whatsapp'): string {
  const { name, details } = plainVariables(variables);

  if (messageType === digestMessageType) {
    const items = digestItems(variables);
    return channel === 'whatsapp' ? digestWhatsApp(name, items) : digestSms(name, items.map((item) => item.messageType));
  }

  const headline = headlines[messageType];

  if (channel === 'whatsapp') {
    const lines = [`*${messageTitles[messageType]}*`, '', name ? `Hello ${name}, ${headline}` : capitalise(headline)];
    if (details.length > 0) lines.push('', ...details);
    lines.push('', signOff);
    return lines.join('\n');
  }

  const sms = (withName: boolean, detailCount: number): string => {
    const greeting = withName && name ? `Hi ${name}, ${headline}` : `Hi, ${headline}`;
    return detailCount > 0 ? `${greeting} ${details.slice(0, detailCount).join(', ')}` : greeting;
  };
  for (let count = details.length; count >= 0; count--) {
    const text = sms(true, count);
    if (fitsOneSegment(text)) return text;
  }
  const anonymous = sms(false, 0);
  return fitsOneSegment(anonymous) ? anonymous : sms(true, 0);
}
