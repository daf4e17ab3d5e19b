import { randomUUID } from 'node:crypto';
import type { MailboxEnvelope, MailboxMessage, MailboxMessageBody, MailboxMessageSummary } from './mailbox-message';
import { MailboxWaitTimeoutError } from './mailbox-wait-timeout-error';
import { parseBody, summarizeMessage } from './parse-message';

/** Messages a mailbox keeps unless told otherwise. */
export const DEFAULT_MAILBOX_CAPACITY = 10_000;

export interface MailboxOptions {
  /**
   * Messages kept; storing one more evicts the oldest.
   * @defaultValue 10000
   */
  readonly capacity?: number;
}

export interface ListMessagesOptions {
  /** Only messages with this address (case-insensitive) in the envelope or the `To` header. */
  readonly to?: string;
  /** Only messages whose `X-CRM-Communication-Id` header is this (case-insensitive). */
  readonly communicationId?: string;
  /** At most this many (the newest). @defaultValue all */
  readonly limit?: number;
}

/** Tested against a message's envelope and headers (the body is not parsed for it). */
export type MessagePredicate = (message: MailboxMessageSummary) => boolean;

interface Waiter {
  readonly predicate: MessagePredicate;
  readonly resolve: (entry: Entry) => void;
  readonly reject: (error: unknown) => void;
}

interface Entry {
  readonly summary: MailboxMessageSummary;
  /** The DATA payload, until its body is parsed. */
  raw: Buffer | null;
  message: Promise<MailboxMessage> | null;
}

/** The body of a message mailparser could not read: nothing but the headers is known. */
const UNREADABLE_BODY: MailboxMessageBody = Object.freeze({ text: null, html: null, attachments: Object.freeze([]) });

const deepFreeze = <T>(value: T): T => {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
};

/**
 * The sandbox's in-memory store of received mail: bounded (the newest `capacity` messages),
 * messages frozen once stored. Storing is cheap (the header block is read, the body is not):
 * a message's body is parsed the first time it is read ({@link messages}, {@link get},
 * {@link waitFor}), then kept; {@link list} gives summaries without bodies.
 *
 * @example
 * const mailbox = new Mailbox({ capacity: 100 });
 * const arrived = mailbox.waitFor((m) => m.to.includes('ada@example.com'), 5_000);
 * // … send through the sandbox SMTP server …
 * const message = await arrived;
 * mailbox.list({ to: 'ada@example.com', limit: 10 }); // newest first, envelope and headers
 * await mailbox.messages({ communicationId: id }); // with text, html and attachments
 */
export class Mailbox {
  readonly #capacity: number;
  /** Oldest first. */
  readonly #entries: Entry[] = [];
  readonly #byId = new Map<string, Entry>();
  readonly #waiters = new Set<Waiter>();

  constructor(options: MailboxOptions = {}) {
    const capacity = options.capacity ?? DEFAULT_MAILBOX_CAPACITY;
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`Mailbox capacity must be a positive integer, got ${capacity}`);
    }
    this.#capacity = capacity;
  }

  /** Messages kept at most. */
  get capacity(): number {
    return this.#capacity;
  }

  /** Messages currently stored. */
  get size(): number {
    return this.#entries.length;
  }

  /**
   * Stores a raw message (the DATA payload) with its envelope, evicting the oldest beyond
   * capacity; gives it an id and a receive time, and settles every {@link waitFor} whose
   * predicate it matches. Returns its summary.
   */
  add(raw: Buffer, envelope: MailboxEnvelope): MailboxMessageSummary {
    const summary: MailboxMessageSummary = Object.freeze({ id: randomUUID(), receivedAt: new Date().toISOString(), ...summarizeMessage(raw, envelope) });
    const entry: Entry = { summary, raw, message: null };
    this.#entries.push(entry);
    this.#byId.set(summary.id, entry);
    if (this.#entries.length > this.#capacity) {
      const evicted = this.#entries.shift();
      if (evicted) this.#byId.delete(evicted.summary.id);
    }
    for (const waiter of this.#waiters) {
      let matches: boolean;
      try {
        matches = waiter.predicate(summary);
      } catch (error) {
        waiter.reject(error);
        continue;
      }
      if (matches) waiter.resolve(entry);
    }
    return summary;
  }

  /**
   * Stored messages, newest first, as summaries (envelope and headers): cheap, no body is
   * parsed, so count and filter with it (`list({ communicationId }).length`).
   */
  list(options: ListMessagesOptions = {}): MailboxMessageSummary[] {
    return this.#find(options).map((entry) => entry.summary);
  }

  /** Stored messages with their bodies (parsed now if never read), newest first. */
  messages(options: ListMessagesOptions = {}): Promise<MailboxMessage[]> {
    return Promise.all(this.#find(options).map((entry) => this.#load(entry)));
  }

  /** The message with this id, or `undefined` (never stored, evicted or cleared). */
  async get(id: string): Promise<MailboxMessage | undefined> {
    const entry = this.#byId.get(id);
    return entry ? this.#load(entry) : undefined;
  }

  /** Forgets every message. Pending {@link waitFor} calls keep waiting. */
  clear(): void {
    this.#entries.length = 0;
    this.#byId.clear();
  }

  /**
   * The newest stored message matching `predicate` (tested on its envelope and headers), or
   * else the next one to arrive. Rejects with {@link MailboxWaitTimeoutError} after
   * `timeoutMs`, or with whatever `predicate` throws.
   *
   * @example
   * const message = await mailbox.waitFor((m) => m.headers['x-crm-communication-id'] === id, 5_000);
   */
  async waitFor(predicate: MessagePredicate, timeoutMs = 10_000): Promise<MailboxMessage> {
    const existing = this.#entries.findLast((entry) => predicate(entry.summary));
    if (existing) return this.#load(existing);
    const entry = await new Promise<Entry>((resolve, reject) => {
      const settle = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
      };
      const waiter: Waiter = {
        predicate,
        resolve: (found) => {
          settle();
          resolve(found);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      };
      const timer = setTimeout(() => waiter.reject(new MailboxWaitTimeoutError(timeoutMs)), timeoutMs);
      this.#waiters.add(waiter);
    });
    return this.#load(entry);
  }

  /** Matching entries, newest first. */
  #find(options: ListMessagesOptions): Entry[] {
    const to = options.to?.toLowerCase();
    const communicationId = options.communicationId?.toLowerCase();
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    const found: Entry[] = [];
    for (let index = this.#entries.length - 1; index >= 0 && found.length < limit; index--) {
      const entry = this.#entries[index];
      if (!entry) continue;
      if (to !== undefined && !isAddressedTo(entry.summary, to)) continue;
      if (communicationId !== undefined && entry.summary.headers['x-crm-communication-id']?.toLowerCase() !== communicationId) continue;
      found.push(entry);
    }
    return found;
  }

  /** The full message of `entry`, its body parsed once (a body mailparser cannot read is empty). */
  #load(entry: Entry): Promise<MailboxMessage> {
    if (entry.message) return entry.message;
    const raw = entry.raw ?? Buffer.alloc(0);
    entry.message = parseBody(raw)
      .catch(() => UNREADABLE_BODY)
      .then((body) => {
        entry.raw = null;
        return deepFreeze<MailboxMessage>({ ...entry.summary, ...body });
      });
    return entry.message;
  }
}

function isAddressedTo(message: MailboxMessageSummary, address: string): boolean {
  const same = (candidate: string): boolean => candidate.toLowerCase() === address;
  return message.envelope.to.some(same) || message.to.some(same);
}
