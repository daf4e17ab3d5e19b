import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CrmSignatureError, verifyCrmEvent } from '@crm/client';
import { workflowEventSchema } from './events';
import type { EventResult, WorkflowLogger, WorkflowRunner } from './runner';

/** What {@link startEventReceiver} needs. */
export interface EventReceiverOptions {
  readonly runner: Pick<WorkflowRunner, 'handleEvent'>;
  /** The subscription's secret (`whsec_…`), or several while it rotates. */
  readonly secret: string | readonly string[];
  /** @defaultValue '127.0.0.1' */
  readonly host?: string;
  /** @defaultValue 0 (a free port) */
  readonly port?: number;
  /** The path events are POSTed to. @defaultValue '/crm/events' */
  readonly path?: string;
  readonly logger?: WorkflowLogger;
  /** Largest body read. @defaultValue 1 MiB */
  readonly bodyLimitBytes?: number;
}

/** A running receiver. */
export interface EventReceiver {
  /** The URL to subscribe, e.g. `http://127.0.0.1:41234/crm/events`. */
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

class BodyTooLarge extends Error {}

function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new BodyTooLarge());
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

/** An RFC 9457 problem answer naming the field at fault. */
function problem(response: ServerResponse, status: number, code: string, detail: string, field?: { field: string; in: string; message: string }): void {
  response.writeHead(status, { 'content-type': 'application/problem+json' });
  response.end(JSON.stringify({ type: `about:blank#${code}`, title: code, status, code, detail, ...(field && { errors: [field] }) }));
}

/**
 * The workflow's callback endpoint (node:http): `POST <path>` with an event of the engine. The
 * signature (`crm-signature`) is checked with the SDK's `verifyCrmEvent` over the raw bytes
 * before anything is parsed; the event is then validated (zod) and handed to the runner, and the
 * answer (200 `{ outcome }`) is sent only once it took effect, so that anything that fails is
 * redelivered by the engine. Duplicates (the event id) are answered 200 too.
 *
 * | answer | when |
 * |---|---|
 * | 200 `{ outcome, planId, reason? }` | applied, resumed, ignored or duplicate |
 * | 400 `invalid_event` | signed, but not an event the workflow reads (names the field) |
 * | 401 `invalid_signature` | `crm-signature` missing, malformed, not matching, or older than 5 minutes |
 * | 404, 405 | another path or method |
 * | 413 `body_too_large` | over `bodyLimitBytes` |
 * | 500 `event_failed` | the workflow could not apply it (the engine retries) |
 *
 * @example
 * const receiver = await startEventReceiver({ runner, secret });
 * await crm.callbacks.create({ url: receiver.url, events: [...workflowEventTypes], secret });
 */
export async function startEventReceiver(options: EventReceiverOptions): Promise<EventReceiver> {
  const path = options.path ?? '/crm/events';
  const limit = options.bodyLimitBytes ?? 1024 * 1024;
  const logger = options.logger;

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const url = new URL(request.url ?? '/', 'http://receiver');
    if (url.pathname !== path) return problem(response, 404, 'not_found', `no route ${url.pathname}`);
    if (request.method !== 'POST') {
      response.setHeader('allow', 'POST');
      return problem(response, 405, 'method_not_allowed', `${request.method ?? ''} ${path}: use POST`);
    }
    let body: Buffer;
    try {
      body = await readBody(request, limit);
    } catch (error) {
      if (error instanceof BodyTooLarge) return problem(response, 413, 'body_too_large', `the body is over ${limit} bytes`, { field: 'body', in: 'body', message: `is over ${limit} bytes` });
      throw error;
    }
    let verified: unknown;
    try {
      verified = verifyCrmEvent({ secret: options.secret, body, signature: request.headers['crm-signature'] });
    } catch (error) {
      if (error instanceof CrmSignatureError) {
        logger?.warn({ reason: error.reason }, 'event refused: bad signature');
        return problem(response, 401, 'invalid_signature', error.message, { field: 'crm-signature', in: 'header', message: error.message });
      }
      throw error;
    }
    const parsed = workflowEventSchema.safeParse(verified);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = issue.path.join('.') || 'body';
      return problem(response, 400, 'invalid_event', `${field}: ${issue.message}`, { field, in: 'body', message: issue.message });
    }
    let result: EventResult;
    try {
      result = await options.runner.handleEvent(parsed.data);
    } catch (error) {
      logger?.error({ eventId: parsed.data.id, type: parsed.data.type, error: error instanceof Error ? error.message : String(error) }, 'event failed; the engine will redeliver it');
      return problem(response, 500, 'event_failed', 'the workflow could not apply the event; deliver it again');
    }
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify(result));
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      logger?.error({ error: error instanceof Error ? error.message : String(error) }, 'event receiver failed');
      if (!response.headersSent) problem(response, 500, 'internal_error', 'the receiver failed');
      else response.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}${path}`,
    server,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
