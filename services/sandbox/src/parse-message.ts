import { createHash } from 'node:crypto';
import { simpleParser } from 'mailparser';
import libmime from 'libmime';
import addressparser from 'nodemailer/lib/addressparser';
import type { MailboxEnvelope, MailboxMessageBody, MailboxMessageSummary } from './mailbox-message';

/** What {@link summarizeMessage} finds; the mailbox adds `id` and `receivedAt`. */
export type MessageHeaderSummary = Omit<MailboxMessageSummary, 'id' | 'receivedAt'>;

const CRLF_CRLF = Buffer.from('\r\n\r\n');
const LF_LF = Buffer.from('\n\n');

/** Length of the header block of `raw` (up to the first empty line), or all of it. */
function headerBlockLength(raw: Buffer): number {
  const crlf = raw.indexOf(CRLF_CRLF);
  const lf = raw.indexOf(LF_LF);
  if (crlf === -1) return lf === -1 ? raw.length : lf;
  return lf === -1 ? crlf : Math.min(crlf, lf);
}

/**
 * The envelope and headers of a raw RFC 5322 message (the SMTP DATA payload), read from its
 * header block alone: cheap enough for every message on the SMTP hot path (the body is left
 * to {@link parseBody}, when someone reads the message). Never throws: a message without
 * headers has empty ones.
 *
 * @example
 * const summary = summarizeMessage(raw, { from: 'app@example.com', to: ['ada@example.com'] });
 * summary.headers['x-crm-communication-id'];
 */
export function summarizeMessage(raw: Buffer, envelope: MailboxEnvelope): MessageHeaderSummary {
  // No prototype: a header named `__proto__` is just a header.
  const headers = Object.create(null) as Record<string, string>;
  const toValues: string[] = [];
  // Unfold (RFC 5322 §2.2.3), then one header per line.
  const block = raw.toString('utf8', 0, headerBlockLength(raw)).replace(/\r?\n(?=[ \t])/g, '');
  for (const line of block.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const rawValue = line.slice(colon + 1).trim();
    if (name === 'to') toValues.push(rawValue);
    // RFC 2047 encoded words, decoded.
    const value = rawValue.includes('=?') ? libmime.decodeWords(rawValue) : rawValue;
    const previous = headers[name];
    headers[name] = previous === undefined ? value : `${previous}, ${value}`;
  }
  // Addresses are parsed before decoding, so an encoded display name cannot add a comma.
  const to = toValues.flatMap((value) => addressparser(value, { flatten: true }).map((entry) => entry.address)).filter((address) => address !== '');
  return {
    envelope: Object.freeze({ from: envelope.from, to: Object.freeze([...envelope.to]) }),
    from: headers.from ?? '',
    to: Object.freeze(to),
    subject: headers.subject ?? '',
    messageId: headers['message-id'] ?? null,
    headers: Object.freeze(headers),
    size: raw.length,
  };
}

/**
 * The text, HTML and attachments of a raw message, with mailparser. Parts are kept as sent: no
 * text derived from HTML, no HTML derived from text, `cid:` links untouched.
 *
 * @example
 * const { text, html, attachments } = await parseBody(raw);
 */
export async function parseBody(raw: Buffer): Promise<MailboxMessageBody> {
  const parsed = await simpleParser(raw, { skipHtmlToText: true, skipTextToHtml: true, keepCidLinks: true });
  return {
    text: parsed.text ?? null,
    // Typed `string | false`, but absent (undefined) when the message has no HTML part.
    html: typeof parsed.html === 'string' ? parsed.html : null,
    attachments: parsed.attachments.map((attachment) => ({
      filename: attachment.filename ?? null,
      contentType: attachment.contentType,
      size: attachment.content.length,
      sha256: createHash('sha256').update(attachment.content).digest('hex'),
      content: attachment.content.toString('base64'),
    })),
  };
}
