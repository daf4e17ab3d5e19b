import http from 'node:http';
import https from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';

/** One signed webhook POST, ready to send. */
export interface WebhookRequest {
  readonly url: string;
  /** Content type and signature headers. */
  readonly headers: Readonly<Record<string, string>>;
  /** The exact bytes that were signed. */
  readonly body: string;
}

/** How a webhook POST is retried: `retries` more attempts after the first, `backoffMs` × 2ⁿ apart. */
export interface WebhookRetryPolicy {
  /** @defaultValue 3 */
  readonly retries: number;
  /** Wait before the first retry, doubled for each further one. @defaultValue 100 */
  readonly backoffMs: number;
  /** Timeout of one attempt. @defaultValue 5000 */
  readonly timeoutMs: number;
}

/**
 * 3 retries, 100 ms, 200 ms, 400 ms apart, 5 s per attempt: short, as the providers' first retries are.
 *
 * @example postWebhook(request, { ...DEFAULT_WEBHOOK_RETRY_POLICY, retries: 0 })
 */
export const DEFAULT_WEBHOOK_RETRY_POLICY: WebhookRetryPolicy = Object.freeze({ retries: 3, backoffMs: 100, timeoutMs: 5_000 });

/** One answer (or none) to one attempt. */
export interface WebhookAttempt {
  /** HTTP status, or `null` when no answer arrived. */
  readonly status: number | null;
  /** Node's error code when no answer arrived, e.g. `ECONNREFUSED`, `ETIMEDOUT`. */
  readonly error: string | null;
}

/** What came of a webhook POST after its retries. */
export interface WebhookResult extends WebhookAttempt {
  /** A 2xx arrived. */
  readonly ok: boolean;
  readonly attempts: number;
  /** The last answer's body (at most 64 KiB), `''` when none. */
  readonly body: string;
  readonly contentType: string | null;
}

const MAX_ANSWER_BYTES = 64 * 1024;

/** One POST; never rejects (a failure is an answer without a status). */
function postOnce(request: WebhookRequest, timeoutMs: number, signal?: AbortSignal): Promise<Omit<WebhookResult, 'ok' | 'attempts'>> {
  return new Promise((resolve) => {
    const url = new URL(request.url);
    const send = url.protocol === 'https:' ? https.request : http.request;
    const body = Buffer.from(request.body, 'utf8');
    // agent: false → `Connection: close`: a receiver that closes is not held open by a pooled socket.
    const outgoing = send(url, { method: 'POST', agent: false, headers: { ...request.headers, 'content-length': String(body.length) }, ...(signal && { signal }) });
    const timer = setTimeout(() => outgoing.destroy(Object.assign(new Error('webhook timed out'), { code: 'ETIMEDOUT' })), timeoutMs);
    outgoing.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ status: null, error: error.code ?? error.name, body: '', contentType: null });
    });
    outgoing.once('response', (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_ANSWER_BYTES) chunks.push(chunk);
      });
      response.once('error', () => undefined);
      response.once('close', () => {
        clearTimeout(timer);
        resolve({
          status: response.statusCode ?? null,
          error: null,
          body: Buffer.concat(chunks).toString('utf8'),
          contentType: response.headers['content-type'] ?? null,
        });
      });
    });
    outgoing.end(body);
  });
}

/**
 * POSTs a signed webhook, retrying (as the providers do) while the receiver answers non-2xx or
 * does not answer: `retries` more attempts, `backoffMs`, then twice that, … apart. Never
 * rejects; an `abort` stops between attempts. `onAttemptFailed` hears of each failed attempt
 * (for a log line without personal data).
 *
 * @example
 * const result = await postWebhook({ url, headers: { 'content-type': 'application/json', 'x-hub-signature-256': sig }, body });
 * if (!result.ok) logger.warn({ status: result.status, attempts: result.attempts }, 'webhook not accepted');
 */
export async function postWebhook(
  request: WebhookRequest,
  policy: WebhookRetryPolicy = DEFAULT_WEBHOOK_RETRY_POLICY,
  hooks: { readonly signal?: AbortSignal; readonly onAttemptFailed?: (attempt: number, outcome: WebhookAttempt) => void } = {},
): Promise<WebhookResult> {
  let attempt = 0;
  for (;;) {
    attempt += 1;
    const answer = await postOnce(request, policy.timeoutMs, hooks.signal);
    const ok = answer.status !== null && answer.status >= 200 && answer.status < 300;
    if (ok) return { ...answer, ok, attempts: attempt };
    hooks.onAttemptFailed?.(attempt, { status: answer.status, error: answer.error });
    if (attempt > policy.retries || hooks.signal?.aborted) return { ...answer, ok, attempts: attempt };
    try {
      await sleep(policy.backoffMs * 2 ** (attempt - 1), undefined, hooks.signal ? { signal: hooks.signal } : {});
    } catch {
      return { ...answer, ok, attempts: attempt };
    }
  }
}
