import { MailboxWaitTimeoutError } from './mailbox-wait-timeout-error';

/** What every message a simulator stores has. */
export interface StoredMessageBase {
  /** The provider's id: a Twilio SID or a WhatsApp `wamid.…`. */
  readonly id: string;
  /**
   * The engine's communication id, when the request carried one (Twilio: the `cid` query
   * parameter of `StatusCallback`; WhatsApp: `biz_opaque_callback_data`), else `null`.
   */
  readonly communicationId: string | null;
  /** The recipient as the request gave it. */
  readonly to: string;
  /** ISO 8601 time the message was stored. */
  readonly receivedAt: string;
}

export interface ListSentMessagesOptions {
  readonly communicationId?: string;
  readonly to?: string;
  /** At most this many (the newest). @defaultValue all */
  readonly limit?: number;
}

interface Waiter<T> {
  readonly predicate: (message: T) => boolean;
  readonly resolve: (message: T) => void;
}

/**
 * What a messaging simulator (Twilio, WhatsApp) accepted, in memory: bounded to the newest
 * `capacity` messages, frozen once stored, like the SMTP {@link Mailbox}.
 *
 * @example
 * const sms = new SentMessages<SandboxSms>();
 * const arrived = sms.waitFor((m) => m.communicationId === id, 5_000);
 */
export class SentMessages<T extends StoredMessageBase> {
  readonly #capacity: number;
  /** Oldest first. */
  readonly #messages: T[] = [];
  readonly #byId = new Map<string, T>();
  readonly #waiters = new Set<Waiter<T>>();

  constructor(options: { readonly capacity?: number } = {}) {
    const capacity = options.capacity ?? 1000;
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.#capacity = capacity;
  }

  get capacity(): number {
    return this.#capacity;
  }

  get size(): number {
    return this.#messages.length;
  }

  /** Stores `message` (evicting the oldest beyond capacity) and settles matching waiters. */
  add(message: T): T {
    const stored = Object.freeze(message);
    this.#messages.push(stored);
    this.#byId.set(stored.id, stored);
    while (this.#messages.length > this.#capacity) {
      const evicted = this.#messages.shift();
      if (evicted) this.#byId.delete(evicted.id);
    }
    for (const waiter of this.#waiters) if (waiter.predicate(stored)) waiter.resolve(stored);
    return stored;
  }

  /** Stored messages, newest first. */
  list(options: ListSentMessagesOptions = {}): T[] {
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    const found: T[] = [];
    for (let index = this.#messages.length - 1; index >= 0 && found.length < limit; index--) {
      const message = this.#messages[index];
      if (!message) continue;
      if (options.communicationId !== undefined && message.communicationId !== options.communicationId) continue;
      if (options.to !== undefined && message.to !== options.to) continue;
      found.push(message);
    }
    return found;
  }

  get(id: string): T | undefined {
    return this.#byId.get(id);
  }

  clear(): void {
    this.#messages.length = 0;
    this.#byId.clear();
  }

  /**
   * The newest stored message matching `predicate`, or else the next one to arrive; rejects
   * with {@link MailboxWaitTimeoutError} after `timeoutMs`.
   */
  waitFor(predicate: (message: T) => boolean, timeoutMs = 10_000): Promise<T> {
    const existing = this.#messages.findLast(predicate);
    if (existing) return Promise.resolve(existing);
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = {
        predicate,
        resolve: (message) => {
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve(message);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new MailboxWaitTimeoutError(timeoutMs));
      }, timeoutMs);
      this.#waiters.add(waiter);
    });
  }
}
