import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerError, type SMTPServerSession } from 'smtp-server';
import type { Logger } from '@crm/observability';
import type { Mailbox } from './mailbox';
import { parseMessage } from './parse-message';

export interface StartSmtpServerOptions {
  /** Address to listen on. */
  readonly host: string;
  /** Port to listen on; 0 picks a free one (read it from the result). */
  readonly port: number;
  /** Where received messages go. */
  readonly mailbox: Mailbox;
  readonly logger: Logger;
  /**
   * Largest message accepted (advertised with SIZE); bigger ones get `552`.
   * @defaultValue 26214400 (25 MiB)
   */
  readonly sizeLimitBytes?: number;
  /**
   * How long `close()` lets open sessions finish before it answers them `421` and hangs up.
   * @defaultValue 1000
   */
  readonly closeTimeoutMs?: number;
}

export interface RunningSmtpServer {
  /** The port actually listened on. */
  readonly port: number;
  /** Stops listening and ends every session; resolves once the port is released. */
  close(): Promise<void>;
}

const smtpError = (responseCode: number, message: string): SMTPServerError =>
  Object.assign(new Error(message), { responseCode });

/**
 * Simulator recipients, as Amazon SES's mailbox simulator has: a local part starting with
 * `bounce` is refused for good (550), one starting with `defer` is refused for now (451), so
 * tests and the demo can drive the engine's bounce and retry paths over real SMTP.
 */
export function simulatedRcptReply(address: string): { code: number; message: string } | null {
  const local = address.split('@')[0]?.toLowerCase() ?? '';
  if (local.startsWith('bounce')) return { code: 550, message: '5.1.1 Recipient address rejected: user unknown (sandbox simulator)' };
  if (local.startsWith('defer')) return { code: 451, message: '4.3.0 Temporary failure, try again later (sandbox simulator)' };
  return null;
}

/**
 * A plaintext SMTP server that stores every message it is given in `mailbox` and answers
 * `250 OK: queued as <id>` with the mailbox id. No TLS (STARTTLS is neither advertised nor
 * accepted, so clients do not try to upgrade); AUTH PLAIN and LOGIN are optional and accept
 * any credentials.
 *
 * @example
 * const smtp = await startSmtpServer({ host: '127.0.0.1', port: 0, mailbox, logger });
 * const transport = nodemailer.createTransport({ host: '127.0.0.1', port: smtp.port });
 * await smtp.close();
 */
export async function startSmtpServer(options: StartSmtpServerOptions): Promise<RunningSmtpServer> {
  const { host, port, mailbox, logger, sizeLimitBytes = 25 * 1024 * 1024, closeTimeoutMs = 1_000 } = options;

  const store = async (raw: Buffer, session: SMTPServerSession): Promise<string> => {
    const { mailFrom, rcptTo } = session.envelope;
    const parsed = await parseMessage(raw, {
      from: mailFrom === false ? null : mailFrom.address,
      to: rcptTo.map((recipient) => recipient.address),
    });
    const stored = mailbox.add(parsed);
    logger.info(
      { mailboxId: stored.id, sessionId: session.id, size: stored.size, recipients: rcptTo.length, attachments: stored.attachments.length },
      'message stored',
    );
    return stored.id;
  };

  const onData = (
    stream: SMTPServerDataStream,
    session: SMTPServerSession,
    callback: (error?: Error | null, message?: string) => void,
  ): void => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    stream.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes <= sizeLimitBytes) chunks.push(chunk);
    });
    stream.once('error', (error: Error) => callback(error));
    stream.once('end', () => {
      if (stream.sizeExceeded) {
        logger.info({ sessionId: session.id, size: bytes }, 'message over the size limit refused');
        callback(smtpError(552, `Error: message exceeds fixed maximum message size ${sizeLimitBytes}`));
        return;
      }
      store(Buffer.concat(chunks, bytes), session).then(
        (id) => callback(null, `OK: queued as ${id}`),
        (error: unknown) => {
          logger.error({ err: error, sessionId: session.id, size: bytes }, 'message could not be parsed');
          callback(smtpError(451, 'Requested action aborted: error in processing'));
        },
      );
    });
  };

  const server = new SMTPServer({
    name: 'crm-sandbox',
    banner: 'crm-engine sandbox SMTP (messages are stored, never delivered)',
    disabledCommands: ['STARTTLS'],
    hideSTARTTLS: true,
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: true,
    allowInsecureAuth: true,
    size: sizeLimitBytes,
    rejectOversized: true,
    disableReverseLookup: true,
    closeTimeout: closeTimeoutMs,
    logger: false,
    onAuth: (auth, _session, callback) => callback(null, { user: auth.username ?? 'sandbox' }),
    onRcptTo: (address, _session, callback) => {
      const reply = simulatedRcptReply(address.address);
      callback(reply ? smtpError(reply.code, reply.message) : undefined);
    },
    onData,
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // A broken client connection must not take the process down.
  server.on('error', (error) => logger.warn({ err: error }, 'smtp connection error'));

  const address = server.server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return Object.freeze({
    port: address.port,
    close: () => (closing ??= new Promise<void>((resolve) => server.close(resolve))),
  });
}
