import type { AddressInfo } from 'node:net';
import { variables } from '@crm/config';
import type { Logger } from '@crm/observability';
import { CustomerServiceWindow } from './customer-service-window';
import { DeliveryOutcomes } from './delivery-outcomes';
import { FaultStore } from './faults';
import { buildSandboxHttp } from './http-api';
import { InboundSimulator, type SandboxWebhooks } from './inbound';
import { DEFAULT_MAILBOX_CAPACITY, Mailbox } from './mailbox';
import { SentMessages } from './sent-messages';
import { startSmtpServer } from './smtp-server';
import { SmtpStats } from './smtp-stats';
import { MAX_CALLBACK_DELAY_MS, StatusCallbacks } from './status-callbacks';
import type { SandboxSms } from './twilio';
import { planSmsCallbacks } from './twilio-webhooks';
import type { WebhookRetryPolicy } from './webhook-poster';
import type { SandboxWhatsAppMessage } from './whatsapp';
import { planWhatsAppCallbacks, type WhatsAppBusiness } from './whatsapp-webhooks';

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
   * The Twilio credentials the stand-in accepts (the auth token also signs its webhooks), and
   * the business number inbound SMS are written to.
   * @defaultValue the defaults of TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER
   */
  readonly twilio?: { readonly accountSid: string; readonly authToken: string; readonly fromNumber?: string };
  /**
   * The WhatsApp phone number id and access token the stand-in accepts, and the business
   * account id and display number its webhooks name (`entry[].id`, `metadata.display_phone_number`).
   * @defaultValue the defaults of WHATSAPP_PHONE_NUMBER_ID and WHATSAPP_ACCESS_TOKEN; account `100000000000000`, number `15550000000`
   */
  readonly whatsapp?: { readonly phoneNumberId: string; readonly accessToken: string; readonly businessAccountId?: string; readonly displayPhoneNumber?: string };
  /**
   * Signed status callbacks of accepted messages, as the providers send them: Twilio's to each
   * message's `StatusCallback`, WhatsApp's to `webhooks.whatsappUrl`; `delayMs` before each one.
   * Switch them at run time with `PUT /admin/callbacks`.
   * @defaultValue `{ enabled: false, delayMs: 200 }` (retries: 3, 100 ms backoff doubling)
   */
  readonly callbacks?: { readonly enabled: boolean; readonly delayMs: number; readonly retry?: Partial<WebhookRetryPolicy> };
  /**
   * Where inbound messages (`POST /sms/inbound`, `POST /whatsapp/inbound`) and WhatsApp status
   * webhooks go, and the app secret that signs WhatsApp's. Without it there are no inbound
   * messages (503) and no WhatsApp status callbacks.
   */
  readonly webhooks?: SandboxWebhooks;
  /**
   * Enforce WhatsApp's 24-hour customer-service window (131047 for a text or interactive message
   * to a number that has not written in 24 h); switch it with `PUT /admin/whatsapp/window`.
   * @defaultValue `{ enforce: false }`
   */
  readonly whatsappWindow?: { readonly enforce: boolean };
  /** The time in ms since the epoch (the 24-hour window, webhook timestamps). @defaultValue Date.now */
  readonly clock?: () => number;
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
  /** The status callbacks: `await sandbox.callbacks.settled(messageId)`, `counts()`, `configure()`. */
  readonly callbacks: StatusCallbacks;
  /** How accepted messages end (`/admin/callbacks/outcomes`). */
  readonly outcomes: DeliveryOutcomes;
  /** WhatsApp's 24-hour customer-service window (`/admin/whatsapp/window`). */
  readonly whatsappWindow: CustomerServiceWindow;
  /** A client writing back: `sandbox.inbound.sms({ from, body })`, `sandbox.inbound.whatsapp({ from, text })`. */
  readonly inbound: InboundSimulator;
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
  callbacks: { enabled: false, delayMs: 200 },
  whatsappWindow: { enforce: false },
  clock: Date.now,
} as const;

/** The WhatsApp Business Account id and display number of the webhooks, unless given. */
const DEFAULT_BUSINESS_ACCOUNT_ID = '100000000000000';
const DEFAULT_DISPLAY_PHONE_NUMBER = '15550000000';

const isPort = (value: number): boolean => Number.isInteger(value) && value >= 0 && value <= 65_535;

/**
 * Starts the local stand-in for the providers: an SMTP server storing what it receives, the
 * HTTP API that exposes it, the Twilio and WhatsApp stand-ins, their signed status callbacks
 * (when `callbacks.enabled`) and inbound messages (when `webhooks` is given).
 *
 * @example
 * const sandbox = await startSandbox({ logger, smtpPort: 0, httpPort: 0 });
 * // send mail to 127.0.0.1:sandbox.smtpPort, then:
 * const { messages } = await (await fetch(`${sandbox.httpUrl}/smtp/messages`)).json();
 * await sandbox.stop();
 *
 * @example
 * const sandbox = await startSandbox({ logger, callbacks: { enabled: true, delayMs: 0 },
 *   webhooks: { twilioInboundUrl: `${ingest}/webhooks/twilio/inbound`, whatsappUrl: `${ingest}/webhooks/whatsapp`, whatsappAppSecret } });
 * const { providerMessageId } = await whatsappClient.send({ to, text: 'Hi' });
 * await sandbox.callbacks.settled(providerMessageId); // sent, delivered, read posted to ingest
 */
export async function startSandbox(options: StartSandboxOptions): Promise<Sandbox> {
  const props = Object.freeze({ ...defaults, ...options });
  if (!props.logger) throw new TypeError('startSandbox requires a logger');
  if (typeof props.host !== 'string' || props.host === '') throw new TypeError('startSandbox requires a host');
  if (!isPort(props.smtpPort)) throw new RangeError(`smtpPort must be an integer 0–65535, got ${props.smtpPort}`);
  if (!isPort(props.httpPort)) throw new RangeError(`httpPort must be an integer 0–65535, got ${props.httpPort}`);
  if (!Number.isInteger(props.callbacks.delayMs) || props.callbacks.delayMs < 0 || props.callbacks.delayMs > MAX_CALLBACK_DELAY_MS) {
    throw new RangeError(`callbacks.delayMs must be an integer 0–${MAX_CALLBACK_DELAY_MS}, got ${props.callbacks.delayMs}`);
  }
  for (const [name, url] of Object.entries(props.webhooks ?? {})) {
    if (name.endsWith('Url') && !(URL.canParse(url) && /^https?:$/.test(new URL(url).protocol))) throw new TypeError(`webhooks.${name} must be an http(s) URL`);
  }
  if (props.webhooks && !props.webhooks.whatsappAppSecret) throw new TypeError('webhooks.whatsappAppSecret must not be empty');
  const { host, logger } = props;
  const twilioOptions: NonNullable<StartSandboxOptions['twilio']> = props.twilio;
  const whatsappOptions: NonNullable<StartSandboxOptions['whatsapp']> = props.whatsapp;
  const callbackOptions: NonNullable<StartSandboxOptions['callbacks']> = props.callbacks;

  const mailbox = new Mailbox({ capacity: props.capacity });
  const faults = new FaultStore({ logger });
  const smtpStats = new SmtpStats();
  const smtp = await startSmtpServer({ host, port: props.smtpPort, mailbox, logger, faults, stats: smtpStats, ...(props.random && { random: props.random }) });
  const sms = new SentMessages<SandboxSms>({ capacity: props.capacity });
  const whatsapp = new SentMessages<SandboxWhatsAppMessage>({ capacity: props.capacity });
  const random = props.random ?? Math.random;
  const { clock } = props;
  const callbacks = new StatusCallbacks({ logger, enabled: props.callbacks.enabled, delayMs: props.callbacks.delayMs, ...(callbackOptions.retry && { retry: callbackOptions.retry }) });
  const outcomes = new DeliveryOutcomes({ logger });
  const whatsappWindow = new CustomerServiceWindow({ enforce: props.whatsappWindow.enforce, clock });
  const business: WhatsAppBusiness = {
    businessAccountId: whatsappOptions.businessAccountId ?? DEFAULT_BUSINESS_ACCOUNT_ID,
    phoneNumberId: props.whatsapp.phoneNumberId,
    displayPhoneNumber: (whatsappOptions.displayPhoneNumber ?? DEFAULT_DISPLAY_PHONE_NUMBER).replace(/\D/g, ''),
  };
  const { webhooks } = props;
  const inbound = new InboundSimulator({
    ...(webhooks && { webhooks }),
    twilio: { accountSid: props.twilio.accountSid, authToken: props.twilio.authToken, fromNumber: twilioOptions.fromNumber ?? defaultOf(variables.TWILIO_FROM_NUMBER) },
    whatsapp: business,
    sms,
    whatsappMessages: whatsapp,
    window: whatsappWindow,
    logger,
    clock,
    ...(callbackOptions.retry && { retry: callbackOptions.retry }),
  });

  const smsAccepted = (message: SandboxSms): void => {
    if (!callbacks.enabled) return;
    callbacks.schedule('sms', message.id, planSmsCallbacks({ message, outcome: outcomes.get('sms', message.to), authToken: props.twilio.authToken, random }));
  };
  const whatsAppAccepted = (message: SandboxWhatsAppMessage): void => {
    if (!callbacks.enabled || !webhooks) return;
    const target = { url: webhooks.whatsappUrl, appSecret: webhooks.whatsappAppSecret };
    callbacks.schedule('whatsapp', message.id, planWhatsAppCallbacks({ message, outcome: outcomes.get('whatsapp', message.to), business, target, random, clock }));
  };

  const http = buildSandboxHttp({
    mailbox,
    logger,
    faults,
    stats: smtpStats,
    twilio: { store: sms, accountSid: props.twilio.accountSid, authToken: props.twilio.authToken, faults, onStored: smsAccepted, ...(props.random && { random: props.random }) },
    whatsapp: {
      store: whatsapp,
      phoneNumberId: props.whatsapp.phoneNumberId,
      accessToken: props.whatsapp.accessToken,
      faults,
      window: whatsappWindow,
      onStored: whatsAppAccepted,
      ...(props.random && { random: props.random }),
    },
    callbackAdmin: { callbacks, outcomes, window: whatsappWindow, inbound },
    inbound,
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
    await callbacks.close();
    await Promise.all([http.close(), smtp.close()]);
    logger.info('sandbox stopped');
  };
  return Object.freeze({
    mailbox,
    faults,
    smtpStats,
    sms,
    whatsapp,
    callbacks,
    outcomes,
    whatsappWindow,
    inbound,
    host,
    smtpPort: smtp.port,
    httpPort,
    httpUrl: `http://${urlHost}:${httpPort}`,
    stop: () => (stopping ??= stop()),
  });
}
