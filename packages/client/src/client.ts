import { randomUUID } from 'node:crypto';
import { CrmApiError, CrmNetworkError } from './errors';
import type {
  AnalyticsFilters,
  AnalyticsReport,
  Attachment,
  AttachmentUpload,
  BatchResult,
  CallbackInput,
  CallbackSubscription,
  CommunicationDetail,
  CommunicationRequest,
  CommunicationStatus,
  CommunicationSummary,
  CreatedCallbackSubscription,
  HistoryFilters,
  HistoryPage,
  Preferences,
  PreferencesInput,
  ProblemDocument,
  SendResult,
} from './types';

/** Options of {@link createCrmClient}. */
export interface CrmClientOptions {
  /** The ingest service, e.g. `http://127.0.0.1:3000`. */
  baseUrl: string;
  /** An API key (`crm_live_…`), sent as `Authorization: Bearer <key>`. */
  apiKey: string;
  /** Time allowed for each attempt (answer and body), in ms. Default 10,000. */
  timeoutMs?: number;
  /** Retries after the first attempt (network errors, 5xx, 429). Default 3; 0 disables them. */
  retries?: number;
  /** Base of the exponential backoff, in ms. Default 200. */
  retryBaseDelayMs?: number;
  /** Longest backoff between two attempts, in ms. Default 5,000. */
  retryMaxDelayMs?: number;
  /** A `Retry-After` longer than this (ms) is not waited for: the error is thrown at once. Default 60,000. */
  maxRetryAfterMs?: number;
  /** The fetch to use; default the global one (Node 20). */
  fetch?: typeof globalThis.fetch;
}

/** Options of the sending methods. */
export interface SendOptions {
  /**
   * The `Idempotency-Key` header. Default: the request's `idempotencyKey` field, else a random
   * UUID made once per call and sent again with each retry of that call, so a retried send is
   * never doubled. Give one derived from your workflow's state (`plan-7:budget:v1`) to make a
   * re-run of the workflow step safe too.
   */
  idempotencyKey?: string;
}

/** The SDK: one method per route of the engine's API (docs/sdk.md). */
export interface CrmClient {
  /** `POST /api/crm/communications`: asks for one message. */
  send(request: CommunicationRequest, options?: SendOptions): Promise<SendResult>;
  /** `POST /api/crm/communications/batch`: up to 1,000 requests, all or nothing. */
  sendBatch(requests: readonly CommunicationRequest[], options?: SendOptions): Promise<BatchResult>;
  /** `GET /api/crm/communications/:id`: one communication with its delivery log. */
  get(id: string): Promise<CommunicationDetail>;
  /** `GET /api/crm/communications`: one page of the history, newest first. */
  history(filters?: HistoryFilters): Promise<HistoryPage>;
  /** Every communication that matches, page after page (`limit` is the page size). */
  historyAll(filters?: Omit<HistoryFilters, 'cursor'>): AsyncIterableIterator<CommunicationSummary>;
  /** `POST /api/crm/communications/:id/cancel`: cancels one that has not started sending. */
  cancel(id: string): Promise<CommunicationDetail>;
  readonly preferences: {
    /** `GET /api/crm/preferences/:clientId` (a client never seen: `known: false` and the defaults). */
    get(clientId: string): Promise<Preferences>;
    /** `POST /api/crm/preferences`: creates or updates; fields left out keep their value. */
    set(input: PreferencesInput): Promise<Preferences>;
  };
  /** `GET /api/crm/analytics`: rates, counts and the funnel. */
  analytics(filters?: AnalyticsFilters): Promise<AnalyticsReport>;
  readonly callbacks: {
    /** `POST /api/crm/callbacks`: subscribes a URL to events; the answer holds the secret, shown only once. */
    create(input: CallbackInput): Promise<CreatedCallbackSubscription>;
    /** `GET /api/crm/callbacks`: the subscriptions (without secrets). */
    list(): Promise<CallbackSubscription[]>;
    /** `DELETE /api/crm/callbacks/:id`. */
    delete(id: string): Promise<void>;
  };
  /** `POST /api/crm/attachments`: uploads a PDF, PNG or JPEG; send its `id` in `attachments`. */
  uploadAttachment(file: AttachmentUpload): Promise<Attachment>;
}

type Method = 'GET' | 'POST' | 'DELETE';

interface Call {
  method: Method;
  path: string;
  query?: URLSearchParams;
  json?: unknown;
  body?: Uint8Array | Blob;
  contentType?: string;
  headers?: Record<string, string>;
  /**
   * Whether network errors and 5xx may be retried: GETs, and POSTs that are idempotent by
   * nature (cancel, preferences) or by key (send). 429 is always retried: the engine refused
   * the request before doing anything.
   */
  retrySafe: boolean;
}

/** The body type of the fetch in use (without naming DOM's `BodyInit`, absent from Node-only type settings). */
type FetchBody = NonNullable<Parameters<typeof globalThis.fetch>[1]>['body'];

interface Answer {
  status: number;
  body: unknown;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** `Retry-After` as ms: delta-seconds or an HTTP date; `null` when absent or unreadable. */
function retryAfterMs(header: string | null, now = Date.now()): number | null {
  if (header === null || header.trim() === '') return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Whether fetch failed by our timeout (a DOMException, which is not always `instanceof Error` across realms). */
function isTimeout(error: unknown): boolean {
  const name = typeof error === 'object' && error !== null && 'name' in error ? error.name : undefined;
  return name === 'TimeoutError' || name === 'AbortError';
}

/** Node's fetch says `fetch failed`; the reason (ECONNREFUSED, socket hang up) is its cause. */
function causeOf(error: Error): string {
  const cause = error.cause;
  return typeof cause === 'object' && cause !== null && 'message' in cause && typeof cause.message === 'string' ? `: ${cause.message}` : '';
}

function joinList(value: string | readonly string[]): string {
  return typeof value === 'string' ? value : value.join(',');
}

function historyQuery(filters: HistoryFilters): URLSearchParams {
  const query = new URLSearchParams();
  if (filters.planId !== undefined) query.set('planId', filters.planId);
  if (filters.clientId !== undefined) query.set('clientId', filters.clientId);
  if (filters.channel !== undefined) query.set('channel', joinList(filters.channel));
  if (filters.status !== undefined) query.set('status', joinList(filters.status));
  if (filters.messageType !== undefined) query.set('messageType', joinList(filters.messageType));
  if (filters.from !== undefined) query.set('from', typeof filters.from === 'string' ? filters.from : filters.from.toISOString());
  if (filters.to !== undefined) query.set('to', typeof filters.to === 'string' ? filters.to : filters.to.toISOString());
  if (filters.limit !== undefined) query.set('limit', String(filters.limit));
  if (filters.cursor !== undefined && filters.cursor !== null) query.set('cursor', filters.cursor);
  return query;
}

/** A body fetch accepts: a Blob as it is, bytes as a Uint8Array over a plain ArrayBuffer (a copy for a view). */
function uploadBody(data: Uint8Array | ArrayBuffer | Blob): Uint8Array | Blob {
  if (data instanceof Blob) return data;
  return data instanceof ArrayBuffer ? new Uint8Array(data) : Uint8Array.from(data);
}

/**
 * The SDK of crm-engine, for workflow code: typed methods for every route, problem answers
 * thrown as {@link CrmApiError}, retries with exponential backoff and jitter for network
 * errors, 5xx and 429 (only where a retry cannot do anything twice), and an idempotency key on
 * every send. It logs nothing and depends on nothing but Node 20 (global `fetch`, `node:crypto`).
 *
 * @example
 * const crm = createCrmClient({ baseUrl: 'http://127.0.0.1:3000', apiKey: process.env.CRM_API_KEY! });
 * const { id } = await crm.send({ clientId: 'client-42', planId: 'plan-7', messageType: 'budget_summary',
 *   variables: { clientName: 'Ada', total: 18500, currency: 'EUR' } }, { idempotencyKey: 'plan-7:budget:v1' });
 */
export function createCrmClient(options: CrmClientOptions): CrmClient {
  if (!/^https?:\/\//.test(options.baseUrl)) throw new TypeError('createCrmClient: baseUrl must be an http(s) URL');
  if (options.apiKey === '') throw new TypeError('createCrmClient: apiKey is required');
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const retries = Math.max(0, Math.floor(options.retries ?? 3));
  const baseDelay = options.retryBaseDelayMs ?? 200;
  const maxDelay = options.retryMaxDelayMs ?? 5_000;
  const maxRetryAfter = options.maxRetryAfterMs ?? 60_000;

  /** Exponential backoff with jitter: between half and all of min(max, base × 2^retry). */
  const backoff = (retry: number): number => {
    const ceiling = Math.min(maxDelay, baseDelay * 2 ** retry);
    return ceiling / 2 + Math.random() * (ceiling / 2);
  };

  async function request(call: Call): Promise<Answer> {
    const query = call.query?.toString();
    const url = `${baseUrl}${call.path}${query ? `?${query}` : ''}`;
    const headers: Record<string, string> = {
      accept: 'application/json, application/problem+json',
      authorization: `Bearer ${options.apiKey}`,
      'user-agent': 'crm-engine-client/0.1',
      ...call.headers,
    };
    let body: string | Uint8Array | Blob | undefined;
    if (call.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(call.json);
    } else if (call.body !== undefined) {
      headers['content-type'] = call.contentType ?? 'application/octet-stream';
      body = call.body;
    }

    for (let attempt = 0; ; attempt += 1) {
      const canRetry = attempt < retries;
      let response: Response;
      let text: string;
      try {
        response = await fetchImpl(url, { method: call.method, headers, body: body as FetchBody, signal: AbortSignal.timeout(timeoutMs) });
        text = await response.text();
      } catch (error) {
        // Not answered (refused, reset, timed out): the request may or may not have been done.
        if (call.retrySafe && canRetry) {
          await sleep(backoff(attempt));
          continue;
        }
        const timedOut = isTimeout(error);
        const reason = timedOut ? `no answer within ${timeoutMs} ms` : error instanceof Error ? `${error.message}${causeOf(error)}` : String(error);
        throw new CrmNetworkError(`${call.method} ${call.path}: ${reason} (${attempt + 1} attempt${attempt === 0 ? '' : 's'})`, { cause: error, timedOut });
      }

      const type = response.headers.get('content-type') ?? '';
      let parsed: unknown = undefined;
      if (text !== '' && /json/i.test(type)) {
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
      }
      if (response.ok) return { status: response.status, body: parsed };

      const wait = retryAfterMs(response.headers.get('retry-after'));
      const retryable = response.status === 429 || (response.status >= 500 && call.retrySafe);
      if (retryable && canRetry && (wait === null || wait <= maxRetryAfter)) {
        await sleep(wait ?? backoff(attempt));
        continue;
      }
      const problem: ProblemDocument = isRecord(parsed) ? (parsed as ProblemDocument) : {};
      throw new CrmApiError({
        status: response.status,
        problem,
        requestId: response.headers.get('x-request-id'),
        retryAfterSeconds: wait === null ? null : Math.ceil(wait / 1000),
        method: call.method,
        path: call.path,
      });
    }
  }

  const pathId = (id: string): string => encodeURIComponent(id);

  async function history(filters: HistoryFilters = {}): Promise<HistoryPage> {
    const answer = await request({ method: 'GET', path: '/api/crm/communications', query: historyQuery(filters), retrySafe: true });
    return answer.body as HistoryPage;
  }

  return {
    async send(communication, sendOptions = {}) {
      const key = sendOptions.idempotencyKey ?? communication.idempotencyKey ?? randomUUID();
      const answer = await request({
        method: 'POST', path: '/api/crm/communications', json: communication, headers: { 'idempotency-key': key }, retrySafe: true,
      });
      const { id, status } = answer.body as { id: string; status: CommunicationStatus };
      return { id, status, outcome: answer.status === 202 ? 'created' : 'duplicate' };
    },

    async sendBatch(items, sendOptions = {}) {
      const keyed = items.filter((item) => item.idempotencyKey !== undefined && item.idempotencyKey !== null).length;
      // A header keys the whole batch (item i gets `<key>:<i>`); items may then carry no key of their own.
      const key = sendOptions.idempotencyKey ?? (keyed === 0 ? randomUUID() : undefined);
      const answer = await request({
        method: 'POST',
        path: '/api/crm/communications/batch',
        json: { items },
        ...(key !== undefined && { headers: { 'idempotency-key': key } }),
        // Safe to retry when every item is keyed (by the header or by its own key).
        retrySafe: key !== undefined || keyed === items.length,
      });
      return answer.body as BatchResult;
    },

    async get(id) {
      const answer = await request({ method: 'GET', path: `/api/crm/communications/${pathId(id)}`, retrySafe: true });
      return answer.body as CommunicationDetail;
    },

    history,

    async *historyAll(filters = {}) {
      let cursor: string | null = null;
      do {
        const page: HistoryPage = await history({ ...filters, cursor });
        yield* page.items;
        cursor = page.nextCursor;
      } while (cursor !== null);
    },

    async cancel(id) {
      const answer = await request({ method: 'POST', path: `/api/crm/communications/${pathId(id)}/cancel`, retrySafe: true });
      return answer.body as CommunicationDetail;
    },

    preferences: {
      async get(clientId) {
        const answer = await request({ method: 'GET', path: `/api/crm/preferences/${pathId(clientId)}`, retrySafe: true });
        return answer.body as Preferences;
      },
      async set(input) {
        const answer = await request({ method: 'POST', path: '/api/crm/preferences', json: input, retrySafe: true });
        return answer.body as Preferences;
      },
    },

    async analytics(filters = {}) {
      const query = new URLSearchParams();
      for (const [name, value] of Object.entries(filters)) if (typeof value === 'string') query.set(name, value);
      const answer = await request({ method: 'GET', path: '/api/crm/analytics', query, retrySafe: true });
      return answer.body as AnalyticsReport;
    },

    callbacks: {
      async create(input) {
        // Not retried on a network error or 5xx: a retry could subscribe the URL twice.
        const answer = await request({ method: 'POST', path: '/api/crm/callbacks', json: input, retrySafe: false });
        return answer.body as CreatedCallbackSubscription;
      },
      async list() {
        const answer = await request({ method: 'GET', path: '/api/crm/callbacks', retrySafe: true });
        return (answer.body as { items: CallbackSubscription[] }).items;
      },
      async delete(id) {
        await request({ method: 'DELETE', path: `/api/crm/callbacks/${pathId(id)}`, retrySafe: true });
      },
    },

    async uploadAttachment(file) {
      // Not retried on a network error or 5xx: every upload makes a new row.
      const answer = await request({
        method: 'POST',
        path: '/api/crm/attachments',
        query: new URLSearchParams({ filename: file.filename }),
        body: uploadBody(file.data),
        contentType: file.contentType,
        retrySafe: false,
      });
      return answer.body as Attachment;
    },
  };
}
