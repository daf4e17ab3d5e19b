import type { AddressInfo } from 'node:net';
import type { Logger } from '@crm/observability';
import { buildSandboxHttp } from './http-api';
import { Mailbox } from './mailbox';
import { startSmtpServer } from './smtp-server';

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
   * Messages the mailbox keeps (the newest).
   * @defaultValue 1000
   */
  readonly capacity?: number;
}

/** A running sandbox. */
export interface Sandbox {
  /** What the SMTP server received; read it directly in tests. */
  readonly mailbox: Mailbox;
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

const defaults = { host: '127.0.0.1', smtpPort: 0, httpPort: 0, capacity: 1000 } as const;

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
  const smtp = await startSmtpServer({ host, port: props.smtpPort, mailbox, logger });
  const http = buildSandboxHttp({ mailbox, logger });
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
    host,
    smtpPort: smtp.port,
    httpPort,
    httpUrl: `http://${urlHost}:${httpPort}`,
    stop: () => (stopping ??= stop()),
  });
}
