import { messageTitles, plainVariables, smsSegments, type JsonObject, type MessageType } from '@crm/core';

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

const capitalise = (text: string): string => text.charAt(0).toUpperCase() + text.slice(1);

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
 * @example renderPlainText('budget_summary', { clientName: 'Ada', total: 18500 }, 'sms')
 * // 'Hi Ada, your budget summary is ready. total: 18500'
 */
export function renderPlainText(messageType: MessageType, variables: JsonObject, channel: 'sms' | 'whatsapp'): string {
  const { name, details } = plainVariables(variables);
  const headline = headlines[messageType];

  if (channel === 'whatsapp') {
    const lines = [`*${messageTitles[messageType]}*`, '', name ? `Hello ${name}, ${headline}` : capitalise(headline)];
    if (details.length > 0) lines.push('', ...details);
    lines.push('', 'Your event planning team');
    return lines.join('\n');
  }

  const sms = (withName: boolean, detailCount: number): string => {
    const greeting = withName && name ? `Hi ${name}, ${headline}` : `Hi, ${headline}`;
    return detailCount > 0 ? `${greeting} ${details.slice(0, detailCount).join(', ')}` : greeting;
  };
  const fits = (text: string): boolean => smsSegments(text).segments <= 1;
  for (let count = details.length; count >= 0; count--) {
    const text = sms(true, count);
    if (fits(text)) return text;
  }
  const anonymous = sms(false, 0);
  return fits(anonymous) ? anonymous : sms(true, 0);
}
