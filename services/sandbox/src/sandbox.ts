import type { AddressInfo } from 'node:net';
import { variables } from '@crm/config';
import type { Logger } from '@crm/observability';
import { FaultStore } from './faults';
import { buildSandboxHttp } from './http-api';
import { DEFAULT_MAILBOX_CAPACITY, Mailbox } from './mailbox';
import { SentMessages } from './sent-messages';
import { startSmtpServer } from './smtp-server';
import { SmtpStats } from './smtp-stats';
import type { SandboxSms } from './twilio';
import type { SandboxWhatsAppMessage } from './whatsapp';

export interface StartSandboxOptions {
  /**
   * Address both servers listen on. Keep it loopback: the sandbox has no auth.
   * @defaultValue '127.0.0.1'
   */
  readonly host?: string;
  /**
   * SMTP port; 0 picks a free one.
   * @defaultValue 0
   */
  readonly smtpPort?: number;
  /**
   * HTTP API port; 0 picks a free one.
   * @defaultValue 0
   */
  readonly httpPort?: number;
  readonly logger: Logger;
  /**
   * Messages the mailbox keeps (the newest; older ones are evicted).
   * @defaultValue 10000
   */
  readonly capacity?: number;
  /**
   * Random numbers in [0, 1) deciding which messages a fault with `errorRate` < 1 refuses;
   * give a seeded one for reproducible runs.
   * @defaultValue Math.random
   */
  readonly random?: () => number;
  /**
   * The Twilio credentials the stand-in accepts.
   * @defaultValue the defaults of TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN
   */
  readonly twilio?: { readonly accountSid: string; readonly authToken: string };
  /**
   * The WhatsApp phone number id and access token the stand-in accepts.
   * @defaultValue the defaults of WHATSAPP_PHONE_NUMBER_ID and WHATSAPP_ACCESS_TOKEN
   */
  readonly whatsapp?: { readonly phoneNumberId: string; readonly accessToken: string };
}

/** A running sandbox. */
export interface Sandbox {
  /** What the SMTP server received; read it directly in tests. */
  readonly mailbox: Mailbox;
  /** The fault knobs (`/admin/faults`); set them directly in tests if you like. */
  readonly faults: FaultStore;
  /** The SMTP server's received / refused / dropped counters (`/smtp/stats`). */
  readonly smtpStats: SmtpStats;
  /** What the Twilio stand-in accepted. */
  readonly sms: SentMessages<SandboxSms>;
  /** What the WhatsApp stand-in accepted. */
  readonly whatsapp: SentMessages<SandboxWhatsAppMessage>;
  readonly host: string;
  /** The SMTP port actually listened on. */
  readonly smtpPort: number;
  /** The HTTP port actually listened on. */
  readonly httpPort: number;
  /** Base URL of the HTTP API, e.g. `http://127.0.0.1:4010`. */
  readonly httpUrl: string;
  /** Closes both servers and releases their ports. Safe to call more than once. */
  stop(): Promise<void>;
}

const defaultOf = (spec: { readonly default?: string }): string => spec.default ?? '';

const defaults = {
  host: '127.0.0.1',
  smtpPort: 0,
  httpPort: 0,
  capacity: DEFAULT_MAILBOX_CAPACITY,
  twilio: { accountSid: defaultOf(variables.TWILIO_ACCOUNT_SID), authToken: defaultOf(variables.TWILIO_AUTH_TOKEN) },
  whatsapp: { phoneNumberId: defaultOf(variables.WHATSAPP_PHONE_NUMBER_ID), accessToken: defaultOf(variables.WHATSAPP_ACCESS_TOKEN) },
} as const;

const isPort = (value: number): boolean => Number.isInteger(value) && value >= 0 && value <= 65_535;

/**
 * Starts the local stand-in for the providers: an SMTP server storing what it receives and the
 * HTTP API that exposes it.
 *
 * @example
 * const sandbox = await startSandbox({ logger, smtpPort: 0, httpPort: 0 });
 * // send mail to 127.0.0.1:sandbox.smtpPort, then:
 * const { messages } = await (await fetch(`${sandbox.httpUrl}/smtp/messages`)).json();
 * await sandbox.stop();
 */
export async function startSandbox(options: StartSandboxOptions): Promise<Sandbox> {
  const props = Object.freeze({ ...defaults, ...options });
  if (!props.logger) throw new TypeError('startSandbox requires a logger');
  if (typeof props.host !== 'string' || props.host === '') throw new TypeError('startSandbox requires a host');
  if (!isPort(props.smtpPort)) throw new RangeError(`smtpPort must be an integer 0–65535, got ${props.smtpPort}`);
  if (!isPort(props.httpPort)) throw new RangeError(`httpPort must be an integer 0–65535, got ${props.httpPort}`);
  const { host, logger } = props;

  const mailbox = new Mailbox({ capacity: props.capacity });
  const faults = new FaultStore({ logger });
  const smtpStats = new SmtpStats();
  const smtp = await startSmtpServer({ host, port: props.smtpPort, mailbox, logger, faults, stats: smtpStats, ...(props.random && { random: props.random }) });
  const sms = new SentMessages<SandboxSms>({ capacity: props.capacity });
  const whatsapp = new SentMessages<SandboxWhatsAppMessage>({ capacity: props.capacity });
  const http = buildSandboxHttp({
    mailbox,
    logger,
    faults,
    stats: smtpStats,
    twilio: { store: sms, accountSid: props.twilio.accountSid, authToken: props.twilio.authToken, faults, ...(props.random && { random: props.random }) },
    whatsapp: { store: whatsapp, phoneNumberId: props.whatsapp.phoneNumberId, accessToken: props.whatsapp.accessToken, faults, ...(props.random && { random: props.random }) },
  });
  try {
    await http.listen({ host, port: props.httpPort });
  } catch (error) {
    await smtp.close();
    throw error;
  }
  const httpPort = (http.server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  let stopping: Promise<void> | undefined;
  const stop = async (): Promise<void> => {
    await Promise.all([http.close(), smtp.close()]);
    logger.info('sandbox stopped');
  };
  return Object.freeze({
    mailbox,
    faults,
    smtpStats,
    sms,
    whatsapp,
    host,
    smtpPort: smtp.port,
    httpPort,
    httpUrl: `http://${urlHost}:${httpPort}`,
    stop: () => (stopping ??= stop()),
  });
}
