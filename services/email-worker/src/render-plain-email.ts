import {
  digestItems,
  digestMessageType,
  digestTitle,
  messageTitles,
  plainVariables,
  type JsonObject,
  type StoredMessageType,
} from '@crm/core';

export interface PlainEmail {
  readonly subject: string;
  readonly text: string;
}

const greeting = (name: string): string => (name ? `Hello ${name},` : 'Hello,');
const signOff = 'Your event planning team';

/**
 * A digest's email: the greeting from the digest's `clientName`, then every item numbered with
 * its title and its details (each item's variables but `clientName`) indented below it.
 */
function renderDigestEmail(variables: JsonObject): PlainEmail {
  const items = digestItems(variables);
  const blocks = items.map((item, index) => {
    const { details } = plainVariables(item.variables);
    return [`${index + 1}. ${messageTitles[item.messageType]}`, ...details.map((line) => `   ${line}`)].join('\n');
  });
  const lines = [
    greeting(plainVariables(variables).name),
    '',
    'Here is what happened with your event plan:',
    ...blocks.flatMap((block) => ['', block]),
    '',
    signOff,
  ];
  return { subject: digestTitle(items.length), text: `${lines.join('\n')}\n` };
}

/**
 * The walking skeleton's email: a plain-text message per type with a greeting and the
 * request's variables listed. The email issue replaces it with MJML templates.
 *
 * A `digest` (`variables`: `{ clientName?, items: DigestItem[] }`) has the subject
 * `digestTitle(n)` and lists its items numbered, in order, each with its details.
 *
 * @example renderPlainEmail('welcome', { clientName: 'Ada' }).subject // 'Welcome to your event plan'
 * @example renderPlainEmail('digest', { items: [{ communicationId: 'c1', messageType: 'reminder', variables: {} }] }).subject
 * // '1 update on your event plan'
 */
export function renderPlainEmail(messageType: StoredMessageType, variables: JsonObject): PlainEmail {
  if (messageType === digestMessageType) return renderDigestEmail(variables);
  const { name, details } = plainVariables(variables);
  const lines = [
    greeting(name),
    '',
    messageType === 'welcome'
      ? 'Welcome! We have started planning your event and will keep you posted here.'
      : `${messageTitles[messageType]}.`,
    ...(details.length > 0 ? ['', ...details.map((line) => `  ${line}`)] : []),
    '',
    signOff,
  ];
  return { subject: messageTitles[messageType], text: `${lines.join('\n')}\n` };
}
