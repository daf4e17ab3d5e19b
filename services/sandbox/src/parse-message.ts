import { createHash } from 'node:crypto';
import { simpleParser, type AddressObject, type EmailAddress, type HeaderLines } from 'mailparser';
import libmime from 'libmime';
import type { MailboxEnvelope, NewMailboxMessage } from './mailbox-message';

/**
 * Parses a raw RFC 5322 message (the SMTP DATA payload) into what the mailbox stores. Parts are
 * kept as sent: no text derived from HTML, no HTML derived from text, `cid:` links untouched.
 *
 * @example
 * const message = await parseMessage(raw, { from: 'app@example.com', to: ['ada@example.com'] });
 * mailbox.add(message);
 */
export async function parseMessage(raw: Buffer, envelope: MailboxEnvelope): Promise<NewMailboxMessage> {
  const parsed = await simpleParser(raw, { skipHtmlToText: true, skipTextToHtml: true, keepCidLinks: true });
  return {
    envelope: { from: envelope.from, to: [...envelope.to] },
    from: parsed.from?.text ?? '',
    to: addressesOf(parsed.to),
    subject: parsed.subject ?? '',
    text: parsed.text ?? null,
    // Typed `string | false`, but absent (undefined) when the message has no HTML part.
    html: typeof parsed.html === 'string' ? parsed.html : null,
    messageId: parsed.messageId ?? null,
    headers: headersOf(parsed.headerLines),
    attachments: parsed.attachments.map((attachment) => ({
      filename: attachment.filename ?? null,
      contentType: attachment.contentType,
      size: attachment.content.length,
      sha256: createHash('sha256').update(attachment.content).digest('hex'),
      content: attachment.content.toString('base64'),
    })),
    size: raw.length,
  };
}

function addressesOf(field: AddressObject | AddressObject[] | undefined): string[] {
  const flatten = (entries: readonly EmailAddress[]): string[] =>
    entries.flatMap((entry) => [...(entry.address ? [entry.address] : []), ...flatten(entry.group ?? [])]);
  if (field === undefined) return [];
  return (Array.isArray(field) ? field : [field]).flatMap((object) => flatten(object.value));
}

function headersOf(lines: HeaderLines): Record<string, string> {
  // No prototype: a header named `__proto__` is just a header.
  const headers = Object.create(null) as Record<string, string>;
  for (const { key, line } of lines) {
    const colon = line.indexOf(':');
    // Unfold (RFC 5322 §2.2.3), then decode RFC 2047 encoded words.
    const value = libmime.decodeWords((colon === -1 ? '' : line.slice(colon + 1)).replace(/\r?\n(?=[ \t])/g, '').trim());
    const name = key.toLowerCase();
    const previous = headers[name];
    headers[name] = previous === undefined ? value : `${previous}, ${value}`;
  }
  return headers;
}
