import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyMetaSignature, verifyTwilioSignature } from '@crm/providers';

/** One POST the receiver got, with what its signature check said. */
export interface ReceivedWebhook {
  readonly path: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly raw: string;
  /** Form parameters (Twilio) or `{}`. */
  readonly params: Record<string, string>;
  /** The parsed JSON body (Meta) or `null`. */
  readonly json: unknown;
  /** `X-Twilio-Signature` (form) or `X-Hub-Signature-256` (JSON) verified. */
  readonly verified: boolean;
  /** What the receiver answered. */
  readonly answeredStatus: number;
}

export interface ReceiverAnswer {
  readonly status: number;
  readonly contentType?: string;
  readonly body?: string;
}

/**
 * A tiny webhook receiver on a free loopback port, standing in for ingest: it verifies every
 * POST's signature with @crm/providers' checks, records it, and answers what `answer` says
 * (200 `{}` by default).
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  answer: (request: { path: string; params: Record<string, string>; json: unknown; index: number }) => ReceiverAnswer = () => ({ status: 200, contentType: 'application/json', body: '{}' });
  readonly #server: http.Server;
  readonly #secrets: { readonly twilioAuthToken: string; readonly appSecret: string };
  #base = '';

  private constructor(secrets: { twilioAuthToken: string; appSecret: string }) {
    this.#secrets = secrets;
    this.#server = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const url = `${this.#base}${request.url ?? '/'}`;
        const path = (request.url ?? '/').split('?')[0] ?? '/';
        const isForm = (request.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
        const params = isForm ? Object.fromEntries(new URLSearchParams(raw)) : {};
        let json: unknown = null;
        if (!isForm) {
          try {
            json = JSON.parse(raw);
          } catch {
            json = null;
          }
        }
        const verified = isForm
          ? verifyTwilioSignature(this.#secrets.twilioAuthToken, request.headers['x-twilio-signature'], url, params)
          : verifyMetaSignature(this.#secrets.appSecret, request.headers['x-hub-signature-256'], raw);
        const answer = verified ? this.answer({ path, params, json, index: this.received.length }) : { status: 403, body: '' };
        this.received.push({ path, url, headers: request.headers, raw, params, json, verified, answeredStatus: answer.status });
        response.writeHead(answer.status, { 'content-type': answer.contentType ?? 'application/json' });
        response.end(answer.body ?? '');
      });
    });
  }

  static async start(secrets: { twilioAuthToken: string; appSecret: string }): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver(secrets);
    await new Promise<void>((resolve) => receiver.#server.listen(0, '127.0.0.1', resolve));
    receiver.#base = `http://127.0.0.1:${(receiver.#server.address() as AddressInfo).port}`;
    return receiver;
  }

  /** `http://127.0.0.1:<port>`. */
  get base(): string {
    return this.#base;
  }

  /** What arrived at `path`, in order. */
  at(path: string): ReceivedWebhook[] {
    return this.received.filter((each) => each.path === path);
  }

  clear(): void {
    this.received.length = 0;
    this.answer = () => ({ status: 200, contentType: 'application/json', body: '{}' });
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

/** The single status of a WhatsApp status webhook body. */
export function whatsAppStatusOf(webhook: ReceivedWebhook): Record<string, unknown> {
  const body = webhook.json as { entry: { changes: { value: { statuses: Record<string, unknown>[] } }[] }[] };
  const status = body.entry[0]?.changes[0]?.value.statuses[0];
  if (!status) throw new Error('not a status webhook');
  return status;
}
