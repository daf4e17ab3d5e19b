import { randomUUID } from 'node:crypto';
import type { MailboxMessage, NewMailboxMessage } from './mailbox-message';
import { MailboxWaitTimeoutError } from './mailbox-wait-timeout-error';

export interface MailboxOptions {
  /**
   * Messages kept; storing one more evicts the oldest.
   * @defaultValue 1000
   */
  readonly capacity?: number;
}

export interface ListMessagesOptions {
  /** Only messages with this address (case-insensitive) in the envelope or the `To` header. */
  readonly to?: string;
  /** At most this many (the newest). @defaultValue all */
  readonly limit?: number;
}

export type MessagePredicate = (message: MailboxMessage) => boolean;

interface Waiter {
  readonly predicate: MessagePredicate;
  readonly resolve: (message: MailboxMessage) => void;
  readonly reject: (error: unknown) => void;
}

const deepFreeze = <T>(value: T): T => {
  if (value !== null && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
};

/**
 * The sandbox's in-memory store of received mail: bounded (the newest `capacity` messages),
 * messages frozen once stored.
 *
 * @example
 * const mailbox = new Mailbox({ capacity: 100 });
 * const arrived = mailbox.waitFor((m) => m.to.includes('ada@example.com'), 5_000);
 * // … send through the sandbox SMTP server …
 * const message = await arrived;
 * mailbox.list({ to: 'ada@example.com', limit: 10 }); // newest first
 */
export class Mailbox {
  readonly #props: Readonly<Required<MailboxOptions>>;
  /** Oldest first. */
  readonly #messages: MailboxMessage[] = [];
  readonly #byId = new Map<string, MailboxMessage>();
  readonly #waiters = new Set<Waiter>();

  constructor(options: MailboxOptions = {}) {
    const props = { capacity: 1000, ...options };
    if (!Number.isInteger(props.capacity) || props.capacity < 1) {
      throw new RangeError(`Mailbox capacity must be a positive integer, got ${props.capacity}`);
    }
    this.#props = Object.freeze(props);
  }

  /** Messages kept at most. */
  get capacity(): number {
    return this.#props.capacity;
  }

  /** Messages currently stored. */
  get size(): number {
    return this.#messages.length;
  }

  /**
   * Stores a message (evicting the oldest beyond capacity), gives it an id and a receive time,
   * and settles every {@link waitFor} whose predicate it matches.
   */
  add(message: NewMailboxMessage): MailboxMessage {
    const stored = deepFreeze<MailboxMessage>({ id: randomUUID(), receivedAt: new Date().toISOString(), ...message });
    this.#messages.push(stored);
    this.#byId.set(stored.id, stored);
    while (this.#messages.length > this.#props.capacity) {
      const evicted = this.#messages.shift();
      if (evicted) this.#byId.delete(evicted.id);
    }
    for (const waiter of this.#waiters) {
      let matches: boolean;
      try {
        matches = waiter.predicate(stored);
      } catch (error) {
        waiter.reject(error);
        continue;
      }
      if (matches) waiter.resolve(stored);
    }
    return stored;
  }

  /** Stored messages, newest first. */
  list(options: ListMessagesOptions = {}): MailboxMessage[] {
    const to = options.to?.toLowerCase();
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    const found: MailboxMessage[] = [];
    for (let index = this.#messages.length - 1; index >= 0 && found.length < limit; index--) {
      const message = this.#messages[index];
      if (message && (to === undefined || isAddressedTo(message, to))) found.push(message);
    }
    return found;
  }

  /** The message with this id, or `undefined` (never stored, evicted or cleared). */
  get(id: string): MailboxMessage | undefined {
    return this.#byId.get(id);
  }

  /** Forgets every message. Pending {@link waitFor} calls keep waiting. */
  clear(): void {
    this.#messages.length = 0;
    this.#byId.clear();
  }

  /**
   * The newest stored message matching `predicate`, or else the next one to arrive. Rejects
   * with {@link MailboxWaitTimeoutError} after `timeoutMs`, or with whatever `predicate` throws.
   *
   * @example
   * const message = await mailbox.waitFor((m) => m.headers['x-communication-id'] === id, 5_000);
   */
  waitFor(predicate: MessagePredicate, timeoutMs = 10_000): Promise<MailboxMessage> {
    let existing: MailboxMessage | undefined;
    try {
      existing = this.#messages.findLast(predicate);
    } catch (error) {
      return Promise.reject(error);
    }
    if (existing) return Promise.resolve(existing);
    return new Promise<MailboxMessage>((resolve, reject) => {
      const settle = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
      };
      const waiter: Waiter = {
        predicate,
        resolve: (message) => {
          settle();
          resolve(message);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      };
      const timer = setTimeout(() => waiter.reject(new MailboxWaitTimeoutError(timeoutMs)), timeoutMs);
      this.#waiters.add(waiter);
    });
  }
}

function isAddressedTo(message: MailboxMessage, address: string): boolean {
  const same = (candidate: string): boolean => candidate.toLowerCase() === address;
  return message.envelope.to.some(same) || message.to.some(same);
}
