import type { JsonObject, MessageType } from '@crm/core';

export interface PlainEmail {
  readonly subject: string;
  readonly text: string;
}

const subjects: Readonly<Record<MessageType, string>> = {
  welcome: 'Welcome to your event plan',
  budget_summary: 'Your budget summary is ready',
  vendor_options: 'Vendor options for your event',
  selection_confirmation: 'Your selection is confirmed',
  blueprint_delivery: 'Your event blueprint',
  error_notification: 'Something went wrong with your plan',
  reminder: 'A reminder about your event plan',
};

const display = (value: unknown): string =>
  typeof value === 'string' ? value : value === null || value === undefined ? '' : JSON.stringify(value);

/**
 * The walking skeleton's email: a plain-text message per type with a greeting and the
 * request's variables listed. The email issue replaces it with MJML templates.
 *
 * @example renderPlainEmail('welcome', { clientName: 'Ada' }).subject // 'Welcome to your event plan'
 */
export function renderPlainEmail(messageType: MessageType, variables: JsonObject): PlainEmail {
  const name = display(variables.clientName).trim();
  const details = Object.entries(variables)
    .filter(([key]) => key !== 'clientName')
    .map(([key, value]) => `  ${key}: ${display(value)}`);
  const lines = [
    name ? `Hello ${name},` : 'Hello,',
    '',
    messageType === 'welcome'
      ? 'Welcome! We have started planning your event and will keep you posted here.'
      : `${subjects[messageType]}.`,
    ...(details.length > 0 ? ['', ...details] : []),
    '',
    'Your event planning team',
  ];
  return { subject: subjects[messageType], text: `${lines.join('\n')}\n` };
}
