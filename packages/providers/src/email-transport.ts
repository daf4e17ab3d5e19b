/** One email, ready to send. */
export interface OutgoingEmail {
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html?: string;
  /** RFC 5322 Message-ID, `<…@…>`, derived from the communication id. */
  readonly messageId: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly attachments?: readonly EmailAttachment[];
}

/** A file sent with an email. */
export interface EmailAttachment {
  readonly filename: string;
  readonly contentType: string;
  readonly content: Buffer;
}

export interface SentEmail {
  /** The Message-ID the server accepted. */
  readonly messageId: string;
  /** The server's final reply, e.g. `250 OK: queued as …`. */
  readonly response: string;
}

/**
 * What the email worker needs from an SMTP client, and no more. Failures are thrown as
 * `ProviderError` with their category.
 */
export interface EmailTransport {
  send(email: OutgoingEmail): Promise<SentEmail>;
  /** Closes pooled connections. */
  close(): Promise<void>;
}
