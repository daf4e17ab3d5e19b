import type { AddressInfo, Socket } from 'node:net';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerError, type SMTPServerSession } from 'smtp-server';
import type { Logger } from '@crm/observability';
import { FaultStore, MAX_FAULT_LATENCY_MS, rollFault, type FaultSetting } from './faults';
import type { Mailbox } from './mailbox';
import type { MailboxEnvelope } from './mailbox-message';
import { SmtpStats } from './smtp-stats';

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
  /** The fault knobs; the server reads the `email` channel. @defaultValue a store with no faults */
  readonly faults?: FaultStore;
  /** Counters of received, refused and dropped messages. @defaultValue a new one */
  readonly stats?: SmtpStats;
  /**
   * Random numbers in [0, 1) deciding which messages a fault with `errorRate` < 1 refuses;
   * give a seeded one for reproducible runs.
   * @defaultValue Math.random
   */
  readonly random?: () => number;
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

/** Reply codes answered at AUTH (or, for a client that does not authenticate, at MAIL FROM). */
const AUTH_REPLY_CODES: ReadonlySet<number> = new Set([454, 530, 534, 535, 538]);

/** Enhanced status code and text of the common reply codes a fault can have. */
const FAULT_REPLY_TEXT: Readonly<Record<number, string>> = {
  421: '4.3.2 Service not available, closing transmission channel',
  450: '4.2.1 Mailbox unavailable, try again later',
  451: '4.3.0 Local error in processing, try again later',
  452: '4.3.1 Insufficient system storage',
  454: '4.7.0 Temporary authentication failure',
  530: '5.7.0 Authentication required',
  534: '5.7.9 Authentication mechanism is too weak',
  535: '5.7.8 Authentication credentials invalid',
  538: '5.7.11 Encryption required for requested authentication mechanism',
  550: '5.1.1 Mailbox unavailable',
  551: '5.1.6 User not local',
  552: '5.3.4 Message size exceeds fixed maximum message size',
  553: '5.1.3 Mailbox name not allowed',
  554: '5.0.0 Transaction failed',
};

/**
 * The text of the reply to a message refused by a fault: the usual enhanced status code and
 * phrase, named as a sandbox fault.
 *
 * @example faultReplyText(451) // '4.3.0 Local error in processing, try again later (sandbox fault 451)'
 */
export function faultReplyText(code: number): string {
  const text = FAULT_REPLY_TEXT[code] ?? (code < 500 ? '4.0.0 Temporary failure' : '5.0.0 Permanent failure');
  return `${text} (sandbox fault ${code})`;
}

/** The setting's `errorCode` as an SMTP reply code, or `null` (none, or not 400–599). */
function smtpFaultCode(setting: FaultSetting): number | null {
  const code = typeof setting.errorCode === 'string' ? Number(setting.errorCode) : setting.errorCode;
  return code !== null && Number.isInteger(code) && code >= 400 && code <= 599 ? code : null;
}

/**
 * A plaintext SMTP server that stores every message it is given in `mailbox` and answers
 * `250 OK: queued as <id>` with the mailbox id. No TLS (STARTTLS is neither advertised nor
 * accepted, so clients do not try to upgrade); AUTH PLAIN and LOGIN are optional and accept
 * any credentials.
 *
 * It obeys the `email` fault knobs of `faults` (docs/sandbox.md):
 *
 * - `outage`: a new connection is reset (TCP RST) as soon as it is accepted, before any
 *   greeting, and every open session is reset when the outage starts. The client sees a
 *   connection error (`ECONNRESET`), as when a provider's front end is down.
 * - `errorCode` with `errorRate`: each message is refused with that code with probability
 *   `errorRate` (decided with `random`). Auth codes (454, 530, 534, 535, 538) are answered to
 *   AUTH, or to MAIL FROM for a client that did not authenticate; every other code is the
 *   reply to the end of DATA (after the whole message was sent). `421` also closes the session.
 * - `latencyMs`: the reply to the end of DATA waits this long. The message is stored only if
 *   the client is still connected then; one that hung up meanwhile never got a `250`, so its
 *   message is dropped (counted in `stats.dropped`), as a real server's would be.
 *
 * Storing is cheap (headers only; bodies are parsed when read), so it takes thousands of
 * messages a second.
 *
 * @example
 * const smtp = await startSmtpServer({ host: '127.0.0.1', port: 0, mailbox, logger });
 * const transport = nodemailer.createTransport({ host: '127.0.0.1', port: smtp.port });
 * await smtp.close();
 */
export async function startSmtpServer(options: StartSmtpServerOptions): Promise<RunningSmtpServer> {
  const { host, port, mailbox, logger, sizeLimitBytes = 25 * 1024 * 1024, closeTimeoutMs = 1_000 } = options;
  const { faults = new FaultStore(), stats = new SmtpStats(), random = Math.random } = options;

  /** Sockets of open sessions, to reset when an outage starts. */
  const sockets = new Set<Socket>();
  /** Called when the session closes: wakes a reply held back by `latencyMs`. */
  const onSessionClose = new Map<string, () => void>();
  /** Sessions whose AUTH already drew for the auth fault: their next MAIL FROM does not draw again. */
  const authDrawn = new Set<string>();

  /** Resolves `true` after `ms`, or `false` as soon as the session closes. */
  const holdReply = (sessionId: string, ms: number): Promise<boolean> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        onSessionClose.delete(sessionId);
        resolve(true);
      }, ms);
      onSessionClose.set(sessionId, () => {
        clearTimeout(timer);
        onSessionClose.delete(sessionId);
        resolve(false);
      });
    });

  const refuse = (code: number, session: SMTPServerSession, at: string): SMTPServerError => {
    stats.refused++;
    logger.debug({ sessionId: session.id, code, at }, 'sandbox fault refused a message');
    return smtpError(code, faultReplyText(code));
  };

  /** The auth fault's refusal for this message, if it draws one. */
  const authFault = (session: SMTPServerSession, at: 'AUTH' | 'MAIL FROM'): SMTPServerError | null => {
    const setting = faults.get('email');
    const code = smtpFaultCode(setting);
    if (code === null || !AUTH_REPLY_CODES.has(code)) return null;
    return rollFault(setting, random) ? refuse(code, session, at) : null;
  };

  /** After DATA (and any latency): refuse by the fault, or store and answer 250. */
  const finish = (raw: Buffer, envelope: MailboxEnvelope, session: SMTPServerSession, callback: (error?: Error | null, message?: string) => void): void => {
    const setting = faults.get('email');
    const code = smtpFaultCode(setting);
    if (code !== null && !AUTH_REPLY_CODES.has(code) && rollFault(setting, random)) {
      callback(refuse(code, session, 'DATA'));
      return;
    }
    const stored = mailbox.add(raw, envelope);
    stats.received++;
    logger.debug({ mailboxId: stored.id, sessionId: session.id, size: stored.size, recipients: envelope.to.length }, 'message stored');
    callback(null, `OK: queued as ${stored.id}`);
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
      const raw = Buffer.concat(chunks, bytes);
      const { mailFrom, rcptTo } = session.envelope;
      const envelope: MailboxEnvelope = { from: mailFrom === false ? null : mailFrom.address, to: rcptTo.map((recipient) => recipient.address) };
      const { latencyMs } = faults.get('email');
      if (latencyMs <= 0) {
        finish(raw, envelope, session, callback);
        return;
      }
      void holdReply(session.id, latencyMs).then((connected) => {
        if (connected) {
          finish(raw, envelope, session, callback);
          return;
        }
        stats.dropped++;
        logger.info({ sessionId: session.id, size: bytes, latencyMs }, 'client hung up while the reply was held back: message dropped');
        // Nobody reads this reply; the session is gone.
        callback(smtpError(421, '4.4.2 Connection dropped (sandbox)'));
      });
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
    // Idle sessions are closed after this; longer than the longest latency a fault can add.
    socketTimeout: MAX_FAULT_LATENCY_MS + 60_000,
    logger: false,
    onAuth: (auth, session, callback) => {
      const refused = authFault(session, 'AUTH');
      if (refused) return callback(refused);
      authDrawn.add(session.id);
      callback(null, { user: auth.username ?? 'sandbox' });
    },
    onMailFrom: (_address, session, callback) => {
      // One draw per message: the first message after AUTH was drawn for there.
      const refused = authDrawn.delete(session.id) ? null : authFault(session, 'MAIL FROM');
      callback(refused ?? undefined);
    },
    onRcptTo: (address, session, callback) => {
      const reply = simulatedRcptReply(address.address);
      if (reply) {
        stats.refused++;
        logger.debug({ sessionId: session.id, code: reply.code }, 'simulator recipient refused');
      }
      callback(reply ? smtpError(reply.code, reply.message) : undefined);
    },
    onData,
    onClose: (session) => {
      authDrawn.delete(session.id);
      onSessionClose.get(session.id)?.();
    },
  });

  // A gate in front of smtp-server's connection handler: during an outage a connection is
  // reset before smtp-server sees it; otherwise its socket is tracked until it closes.
  const tcp = server.server;
  const accept = tcp.listeners('connection') as ((socket: Socket) => void)[];
  tcp.removeAllListeners('connection');
  tcp.on('connection', (socket: Socket) => {
    if (faults.get('email').outage) {
      socket.on('error', () => undefined);
      socket.resetAndDestroy();
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    for (const listener of accept) listener.call(tcp, socket);
  });
  const stopListening = faults.onChange((channel, setting) => {
    if (channel !== 'email' || !setting.outage || sockets.size === 0) return;
    logger.info({ sessions: sockets.size }, 'sandbox outage: resetting open SMTP sessions');
    for (const socket of sockets) socket.resetAndDestroy();
  });

  await new Promise<void>((resolve, reject) => {
    const failed = (error: Error): void => {
      stopListening();
      reject(error);
    };
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve();
    });
  });
  // A broken client connection must not take the process down.
  server.on('error', (error) => logger.warn({ err: error }, 'smtp connection error'));

  const address = server.server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return Object.freeze({
    port: address.port,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        stopListening();
        server.close(resolve);
      })),
  });
}
