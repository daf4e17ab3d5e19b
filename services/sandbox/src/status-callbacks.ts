import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@crm/observability';
import type { CallbackChannel } from './delivery-outcomes';
import { DEFAULT_WEBHOOK_RETRY_POLICY, postWebhook, type WebhookRequest, type WebhookRetryPolicy } from './webhook-poster';

/** One status callback of a message, built when it is due (so its timestamp is the send time). */
export interface CallbackStep {
  /** The provider's status word, e.g. `delivered`. */
  readonly status: string;
  readonly request: () => WebhookRequest;
}

/** What came of one status callback. */
export interface CallbackDelivery {
  readonly status: string;
  /** The receiver answered 2xx (after `attempts` tries). */
  readonly ok: boolean;
  readonly attempts: number;
  /** The last answer's HTTP status, `null` when none arrived. */
  readonly httpStatus: number | null;
}

/** Every status callback of one message, in the order they were sent. */
export interface MessageCallbacksReport {
  readonly channel: CallbackChannel;
  readonly messageId: string;
  readonly deliveries: readonly CallbackDelivery[];
}

/** The counters `GET /admin/callbacks` shows. */
export interface StatusCallbackCounts {
  /** Messages whose callbacks were scheduled. */
  readonly messages: number;
  /** Messages with callbacks still to send. */
  readonly pending: number;
  /** Callbacks the receiver accepted (2xx). */
  readonly delivered: number;
  /** Callbacks given up after every retry. */
  readonly failed: number;
  /** POSTs made, retries included. */
  readonly attempts: number;
  /** POSTs that were retries. */
  readonly retries: number;
}

export interface StatusCallbacksOptions {
  /** Send callbacks at all. @defaultValue false */
  readonly enabled?: boolean;
  /** Wait before each callback of a message (the first counts from acceptance). @defaultValue 200 */
  readonly delayMs?: number;
  /** Retries of a callback the receiver did not accept. @defaultValue {@link DEFAULT_WEBHOOK_RETRY_POLICY} */
  readonly retry?: Partial<WebhookRetryPolicy>;
  readonly logger: Logger;
  /** How many finished messages' reports are kept for {@link StatusCallbacks.settled}. @defaultValue 1000 */
  readonly keepReports?: number;
}

/**
 * Largest `delayMs` (as SANDBOX_CALLBACK_DELAY_MS allows).
 *
 * @example callbacks.configure({ delayMs: Math.min(wanted, MAX_CALLBACK_DELAY_MS) })
 */
export const MAX_CALLBACK_DELAY_MS = 600_000;

/**
 * Sends the status callbacks of accepted messages, as the providers do: each message's
 * callbacks one after another, `delayMs` apart, each POSTed once and retried with a short
 * backoff while the receiver does not accept it. Failed POSTs are logged with the channel,
 * message id, status and HTTP status only (never a number or a text).
 *
 * Tests need no sleeps: `await callbacks.settled(messageId)` resolves with the message's
 * report once its last callback was sent (or given up); `await callbacks.settled()` once
 * nothing is pending.
 *
 * @example
 * const callbacks = new StatusCallbacks({ enabled: true, delayMs: 0, logger });
 * callbacks.schedule('sms', sid, steps);
 * const report = await callbacks.settled(sid); // report.deliveries.map((d) => d.status)
 */
export class StatusCallbacks {
  readonly #logger: Logger;
  readonly #retry: WebhookRetryPolicy;
  readonly #keepReports: number;
  readonly #pending = new Map<string, Promise<MessageCallbacksReport>>();
  readonly #reports = new Map<string, MessageCallbacksReport>();
  readonly #abort = new AbortController();
  #enabled: boolean;
  #delayMs: number;
  #counts = { messages: 0, delivered: 0, failed: 0, attempts: 0, retries: 0 };

  constructor(options: StatusCallbacksOptions) {
    this.#logger = options.logger;
    this.#retry = Object.freeze({ ...DEFAULT_WEBHOOK_RETRY_POLICY, ...options.retry });
    this.#keepReports = options.keepReports ?? 1000;
    this.#enabled = options.enabled ?? false;
    this.#delayMs = options.delayMs ?? 200;
    StatusCallbacks.#checkDelay(this.#delayMs);
  }

  static #checkDelay(delayMs: number): void {
    if (!Number.isInteger(delayMs) || delayMs < 0 || delayMs > MAX_CALLBACK_DELAY_MS) {
      throw new RangeError(`delayMs must be an integer 0–${MAX_CALLBACK_DELAY_MS}, got ${delayMs}`);
    }
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  get delayMs(): number {
    return this.#delayMs;
  }

  /** Switches callbacks on or off, or changes the delay, for messages accepted from now on. */
  configure(settings: { readonly enabled?: boolean; readonly delayMs?: number }): { enabled: boolean; delayMs: number } {
    if (settings.delayMs !== undefined) {
      StatusCallbacks.#checkDelay(settings.delayMs);
      this.#delayMs = settings.delayMs;
    }
    if (settings.enabled !== undefined) this.#enabled = settings.enabled;
    this.#logger.info({ enabled: this.#enabled, delayMs: this.#delayMs }, 'sandbox status callbacks configured');
    return { enabled: this.#enabled, delayMs: this.#delayMs };
  }

  /**
   * Sends `steps` for message `messageId`, in order, `delayMs` apart. Does nothing when
   * callbacks are off, there are no steps, or the message already has callbacks.
   */
  schedule(channel: CallbackChannel, messageId: string, steps: readonly CallbackStep[]): boolean {
    if (!this.#enabled || steps.length === 0 || this.#pending.has(messageId) || this.#abort.signal.aborted) return false;
    this.#counts.messages += 1;
    const run = this.#run(channel, messageId, steps, this.#delayMs).then((report) => {
      this.#pending.delete(messageId);
      this.#reports.set(messageId, report);
      if (this.#reports.size > this.#keepReports) {
        const oldest = this.#reports.keys().next();
        if (!oldest.done) this.#reports.delete(oldest.value);
      }
      return report;
    });
    this.#pending.set(messageId, run);
    return true;
  }

  async #run(channel: CallbackChannel, messageId: string, steps: readonly CallbackStep[], delayMs: number): Promise<MessageCallbacksReport> {
    const { signal } = this.#abort;
    const deliveries: CallbackDelivery[] = [];
    for (const step of steps) {
      try {
        await sleep(delayMs, undefined, { signal });
      } catch {
        break; // stopped
      }
      const result = await postWebhook(step.request(), this.#retry, {
        signal,
        onAttemptFailed: (attempt, outcome) =>
          this.#logger.warn({ channel, messageId, status: step.status, attempt, httpStatus: outcome.status, error: outcome.error }, 'status callback not accepted'),
      });
      this.#counts.attempts += result.attempts;
      this.#counts.retries += result.attempts - 1;
      if (result.ok) this.#counts.delivered += 1;
      else {
        this.#counts.failed += 1;
        this.#logger.warn({ channel, messageId, status: step.status, attempts: result.attempts }, 'status callback given up');
      }
      deliveries.push({ status: step.status, ok: result.ok, attempts: result.attempts, httpStatus: result.status });
      if (signal.aborted) break;
    }
    return { channel, messageId, deliveries };
  }

  /** Resolves with the report of `messageId` once all its callbacks were sent or given up (`null`: it had none). */
  settled(messageId: string): Promise<MessageCallbacksReport | null>;
  /** Resolves once no message has callbacks pending. */
  settled(): Promise<void>;
  async settled(messageId?: string): Promise<MessageCallbacksReport | null | void> {
    if (messageId !== undefined) return (await this.#pending.get(messageId)) ?? this.#reports.get(messageId) ?? null;
    while (this.#pending.size > 0) await Promise.all(this.#pending.values());
  }

  /** The report of a message whose callbacks are finished, if still kept. */
  report(messageId: string): MessageCallbacksReport | undefined {
    return this.#reports.get(messageId);
  }

  counts(): StatusCallbackCounts {
    return { ...this.#counts, pending: this.#pending.size };
  }

  /** Zeroes the counters and forgets finished reports (pending callbacks go on). */
  reset(): void {
    this.#counts = { messages: 0, delivered: 0, failed: 0, attempts: 0, retries: 0 };
    this.#reports.clear();
  }

  /** Stops: pending waits end, nothing more is sent; resolves once every run has ended. */
  async close(): Promise<void> {
    this.#abort.abort();
    await this.settled();
  }
}
