import { messageTitles, plainVariables, type JsonObject, type MessageType } from '@crm/core';

export interface PlainEmail {
  readonly subject: string;
  readonly text: string;
}

/**
 * The walking skeleton's email: a plain-text message per type with a greeting and the
 * request's variables listed. The email issue replaces it with MJML templates.
 *
 * @example renderPlainEmail('welcome', { clientName: 'Ada' }).subject // 'Welcome to your event plan'
 */
export function renderPlainEmail(messageType: MessageType, variables: JsonObject): PlainEmail {
  const { name, details } = plainVariables(variables);
  const lines = [
    name ? `Hello ${name},` : 'Hello,',
    '',
    messageType === 'welcome'
      ? 'Welcome! We have started planning your event and will keep you posted here.'
      : `${messageTitles[messageType]}.`,
    ...(details.length > 0 ? ['', ...details.map((line) => `  ${line}`)] : []),
    '',
    'Your event planning team',
  ];
  return { subject: messageTitles[messageType], text: `${lines.join('\n')}\n` };
}
