import type { AddressInfo } from 'node:net';
import type { Logger } from '@crm/observability';
import { FaultStore } from './faults';
import { buildSandboxHttp } from './http-api';
import { DEFAULT_MAILBOX_CAPACITY, Mailbox } from './mailbox';
import { startSmtpServer } from './smtp-server';
import { SmtpStats } from './smtp-stats';

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
}

/** A running sandbox. */
export interface Sandbox {
  /** What the SMTP server received; read it directly in tests. */
  readonly mailbox: Mailbox;
  /** The fault knobs (`/admin/faults`); set them directly in tests if you like. */
  readonly faults: FaultStore;
  /** The SMTP server's received / refused / dropped counters (`/smtp/stats`). */
  readonly smtpStats: SmtpStats;
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

const defaults = { host: '127.0.0.1', smtpPort: 0, httpPort: 0, capacity: DEFAULT_MAILBOX_CAPACITY } as const;

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
  const http = buildSandboxHttp({ mailbox, logger, faults, stats: smtpStats });
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
    host,
    smtpPort: smtp.port,
    httpPort,
    httpUrl: `http://${urlHost}:${httpPort}`,
    stop: () => (stopping ??= stop()),
  });
}
