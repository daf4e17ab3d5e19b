/** The SMTP envelope: what the client said in `MAIL FROM` and `RCPT TO`, not the headers. */
export interface MailboxEnvelope {
  /** `MAIL FROM` address; `''` for the null sender (`<>`), `null` if the client never sent one. */
  readonly from: string | null;
  /** Every `RCPT TO` address, in order. */
  readonly to: readonly string[];
}

/** One attachment (inline or not) of a received message. */
export interface MailboxAttachment {
  readonly filename: string | null;
  readonly contentType: string;
  /** Decoded size in bytes. */
  readonly size: number;
  /** SHA-256 of the decoded content, lower-case hex. */
  readonly sha256: string;
  /** The decoded content, base64. */
  readonly content: string;
}

/**
 * What the mailbox knows of a message as soon as it is stored: the envelope and the headers
 * (parsed on the SMTP hot path, cheaply). Predicates and filters see this.
 */
export interface MailboxMessageSummary {
  /** Assigned by the mailbox (a UUID); also the id in the `250 OK: queued as <id>` reply. */
  readonly id: string;
  /** ISO 8601 time the message was stored. */
  readonly receivedAt: string;
  readonly envelope: MailboxEnvelope;
  /** The decoded `From` header (e.g. `Ada <ada@example.com>`), `''` when absent. */
  readonly from: string;
  /** Addresses of the `To` header (group members included), in order. */
  readonly to: readonly string[];
  /** Decoded `Subject`, `''` when absent. */
  readonly subject: string;
  /** The `Message-ID` header, `null` when absent. */
  readonly messageId: string | null;
  /**
   * Every top-level header by lower-case name; values unfolded with RFC 2047 encoded words
   * decoded. A header that appears more than once has its values joined with `', '`.
   */
  readonly headers: Readonly<Record<string, string>>;
  /** Size of the raw message (the DATA payload) in bytes. */
  readonly size: number;
}

/** The body of a message: parsed (with mailparser) the first time the message is read. */
export interface MailboxMessageBody {
  /** The text/plain part, `null` when there is none. */
  readonly text: string | null;
  /** The text/html part as sent (`cid:` links kept), `null` when there is none. */
  readonly html: string | null;
  readonly attachments: readonly MailboxAttachment[];
}

/** A message as the sandbox SMTP server received it, headers and body. */
export interface MailboxMessage extends MailboxMessageSummary, MailboxMessageBody {}
