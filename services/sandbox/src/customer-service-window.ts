/**
 * WhatsApp's customer-service window: 24 hours from the client's last message.
 *
 * @example new CustomerServiceWindow({ windowMs: CUSTOMER_SERVICE_WINDOW_MS })
 */
export const CUSTOMER_SERVICE_WINDOW_MS = 24 * 60 * 60 * 1000;

export interface CustomerServiceWindowOptions {
  /**
   * Refuse free-form messages (text, interactive) to a number that has not written in the last
   * `windowMs` with Graph error 131047, as Meta does. Off by default, so that a test need not
   * make every recipient write first.
   * @defaultValue false
   */
  readonly enforce?: boolean;
  /** @defaultValue 86400000 (24 h) */
  readonly windowMs?: number;
  /** The time in ms since the epoch; give a fake one to test expiry. @defaultValue Date.now */
  readonly clock?: () => number;
}

/** What `GET /admin/whatsapp/window` answers. */
export interface CustomerServiceWindowState {
  readonly enforce: boolean;
  readonly windowMs: number;
  /** How many numbers have written (and are remembered). */
  readonly contacts: number;
}

/**
 * The WhatsApp id of a number: its digits.
 *
 * @example waIdOf('+1 (415) 555-0123') // '14155550123'
 */
export const waIdOf = (phone: string): string => phone.replace(/\D/g, '');

/**
 * When each WhatsApp number last wrote to the business (an inbound message the sandbox sent to
 * ingest), and whether a free-form message to it is inside the 24-hour window. Templates are
 * always allowed. In memory; numbers are keyed by their digits (`+1 415…` and `1415…` are one).
 *
 * @example
 * const window = new CustomerServiceWindow({ enforce: true });
 * window.allows('+14155550123', 'text'); // false: never wrote
 * window.recordInbound('14155550123');
 * window.allows('+14155550123', 'text'); // true for 24 h
 */
export class CustomerServiceWindow {
  readonly #lastInbound = new Map<string, number>();
  readonly #windowMs: number;
  readonly #clock: () => number;
  #enforce: boolean;

  constructor(options: CustomerServiceWindowOptions = {}) {
    const windowMs = options.windowMs ?? CUSTOMER_SERVICE_WINDOW_MS;
    if (!Number.isFinite(windowMs) || windowMs <= 0) throw new RangeError(`windowMs must be a positive number, got ${windowMs}`);
    this.#windowMs = windowMs;
    this.#clock = options.clock ?? Date.now;
    this.#enforce = options.enforce ?? false;
  }

  get enforce(): boolean {
    return this.#enforce;
  }

  /** Switches enforcement on or off (`PUT /admin/whatsapp/window`). */
  setEnforce(enforce: boolean): void {
    this.#enforce = enforce;
  }

  /** Notes that `phone` wrote at `at` (default now): its window opens for 24 h. */
  recordInbound(phone: string, at: number = this.#clock()): void {
    this.#lastInbound.set(waIdOf(phone), at);
  }

  /** When `phone` last wrote (ms since the epoch), or `null`. */
  lastInboundAt(phone: string): number | null {
    return this.#lastInbound.get(waIdOf(phone)) ?? null;
  }

  /** Whether `phone` wrote within the window before now. */
  isOpen(phone: string): boolean {
    const last = this.lastInboundAt(phone);
    return last !== null && this.#clock() - last < this.#windowMs;
  }

  /** Whether a message of `type` may go to `phone` now: always when not enforced, always for a template. */
  allows(phone: string, type: 'text' | 'interactive' | 'template'): boolean {
    return !this.#enforce || type === 'template' || this.isOpen(phone);
  }

  /** Forgets every number (enforcement stays as it is). */
  clear(): void {
    this.#lastInbound.clear();
  }

  state(): CustomerServiceWindowState {
    return { enforce: this.#enforce, windowMs: this.#windowMs, contacts: this.#lastInbound.size };
  }
}
