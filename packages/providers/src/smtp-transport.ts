import nodemailer from 'nodemailer';
import type { ErrorCategory } from '@crm/core';
import type { EmailTransport, OutgoingEmail, SentEmail } from './email-transport';
import { ProviderError } from './provider-error';

export interface SmtpTransportOptions {
  readonly host: string;
  readonly port: number;
  /** Implicit TLS (port 465). */
  readonly secure: boolean;
  /** Refuse to send unless the connection is encrypted (STARTTLS or implicit TLS). */
  readonly requireTls: boolean;
  readonly user: string | null;
  readonly password: string | null;
  readonly from: string;
  readonly pool: { readonly maxConnections: number; readonly maxMessages: number };
  /** Most messages per second this transport sends (nodemailer's pool rate limit); `null`: none. @defaultValue null */
  readonly ratePerSecond?: number | null;
  /** Socket timeouts, in ms. @defaultValue 30000 */
  readonly timeoutMs?: number;
}

/**
 * A pooled nodemailer SMTP transport behind {@link EmailTransport}. Certificates are always
 * verified; without `requireTls` (sandbox only) a server that offers no STARTTLS is used in
 * clear text.
 *
 * @example
 * const transport = createSmtpTransport(config.smtp);
 * await transport.send({ to, subject, text, messageId: `<${id}@crm-engine>` });
 */
export function createSmtpTransport(options: SmtpTransportOptions): EmailTransport {
  const timeout = options.timeoutMs ?? 30_000;
  const transporter = nodemailer.createTransport({
    pool: true,
    host: options.host,
    port: options.port,
    secure: options.secure,
    requireTLS: options.requireTls,
    maxConnections: options.pool.maxConnections,
    maxMessages: options.pool.maxMessages,
    ...(options.ratePerSecond && { rateDelta: 1_000, rateLimit: options.ratePerSecond }),
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout,
    ...(options.user && { auth: { user: options.user, pass: options.password ?? '' } }),
  });

  return {
    async send(email: OutgoingEmail): Promise<SentEmail> {
      try {
        const info = (await transporter.sendMail({
          from: options.from,
          to: email.to,
          subject: email.subject,
          text: email.text,
          ...(email.html !== undefined && { html: email.html }),
          messageId: email.messageId,
          ...(email.headers && { headers: { ...email.headers } }),
          ...(email.attachments && {
            attachments: email.attachments.map((a) => ({ filename: a.filename, contentType: a.contentType, content: a.content })),
          }),
        })) as { messageId: string; response: string };
        return { messageId: info.messageId, response: info.response };
      } catch (error) {
        throw smtpProviderError(error);
      }
    },
    async close() {
      transporter.close();
    },
  };
}

/** Network failures that a retry may cure. */
const transientNetworkCodes = new Set(['ETIMEDOUT', 'ECONNECTION', 'ECONNRESET', 'ECONNREFUSED', 'ESOCKET', 'EDNS', 'EPIPE', 'EAI_AGAIN']);

/**
 * The category of an SMTP failure: reply 4xx is transient; 5xx is permanent, except 530/535
 * (authentication) which is an auth failure; 421 and 451 with a rate hint are still transient;
 * a connection or timeout failure is transient.
 *
 * @example categorizeSmtpError({ responseCode: 550 }) // 'permanent'
 */
export function categorizeSmtpError(error: { responseCode?: number; code?: string }): ErrorCategory {
  const reply = error.responseCode;
  if (reply === 530 || reply === 534 || reply === 535 || error.code === 'EAUTH') return 'auth_failure';
  if (reply !== undefined && reply >= 500) return 'permanent';
  if (reply !== undefined && reply >= 400) return 'transient';
  if (error.code !== undefined && transientNetworkCodes.has(error.code)) return 'transient';
  return 'transient';
}

function smtpProviderError(error: unknown): ProviderError {
  const details = (error ?? {}) as { responseCode?: number; code?: string; message?: string };
  const code = details.responseCode !== undefined ? String(details.responseCode) : (details.code ?? null);
  return new ProviderError({
    provider: 'smtp',
    category: categorizeSmtpError(details),
    code,
    // nodemailer's messages hold the server's reply text, which can name the recipient: keep
    // only the code and the kind of failure.
    message: details.responseCode !== undefined ? `SMTP server replied ${details.responseCode}` : `SMTP ${details.code ?? 'error'}`,
    cause: error,
  });
}
