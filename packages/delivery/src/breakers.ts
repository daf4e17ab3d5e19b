import CircuitBreaker from 'opossum';
import { ProviderError } from '@crm/providers';
import { breakerStateGauge, breakerStateValue, type Logger } from '@crm/observability';

/** Breaker settings (from `config.breaker`). */
export interface BreakerSettings {
  readonly errorThresholdPercentage: number;
  readonly volumeThreshold: number;
  readonly rollingCountTimeoutMs: number;
  readonly resetTimeoutMs: number;
}

export type BreakerState = 'closed' | 'open' | 'half_open';

type Call = () => Promise<unknown>;

/**
 * One opossum circuit breaker per provider, in this process. Failures that say nothing about
 * the provider's health (a permanent refusal of one recipient, a rate limit) are not counted;
 * timeouts, 5xx and connection failures are; an auth failure opens the breaker at once
 * ({@link ProviderBreakers.trip}). While a breaker is open, {@link ProviderBreakers.fire}
 * rejects at once with {@link BreakerOpenError}; after the reset timeout one probe call goes
 * through and closes it again if it succeeds.
 *
 * Each worker process keeps its own breakers (opossum's state is in memory): with N replicas
 * a dead provider costs at most N × volumeThreshold calls per window before all are open.
 * Each breaker's state is exported as `crm_breaker_state{provider}`.
 */
export class ProviderBreakers {
  readonly #settings: BreakerSettings;
  readonly #logger: Logger;
  readonly #breakers = new Map<string, CircuitBreaker<[Call], unknown>>();

  constructor(settings: BreakerSettings, logger: Logger) {
    this.#settings = settings;
    this.#logger = logger;
  }

  #breaker(provider: string): CircuitBreaker<[Call], unknown> {
    let breaker = this.#breakers.get(provider);
    if (!breaker) {
      breaker = new CircuitBreaker<[Call], unknown>((call: Call) => call(), {
        name: provider,
        // Provider clients have their own timeouts; the breaker only counts.
        timeout: false,
        errorThresholdPercentage: this.#settings.errorThresholdPercentage,
        volumeThreshold: this.#settings.volumeThreshold,
        rollingCountTimeout: this.#settings.rollingCountTimeoutMs,
        resetTimeout: this.#settings.resetTimeoutMs,
        // true = "not a failure of the provider": one bad address or a rate limit must not cut off everyone.
        errorFilter: (error: unknown) => error instanceof ProviderError && (error.category === 'permanent' || error.category === 'rate_limit'),
      });
      const log = this.#logger.child({ provider });
      // crm_breaker_state follows every change (0 closed, 1 half-open, 2 open).
      breakerStateGauge.set({ provider }, breakerStateValue.closed);
      breaker.on('open', () => {
        breakerStateGauge.set({ provider }, breakerStateValue.open);
        log.warn({ breaker: 'open' }, 'circuit breaker opened: calls to this provider fail fast');
      });
      breaker.on('halfOpen', () => {
        breakerStateGauge.set({ provider }, breakerStateValue.half_open);
        log.info({ breaker: 'half_open' }, 'circuit breaker half-open: one probe call allowed');
      });
      breaker.on('close', () => {
        breakerStateGauge.set({ provider }, breakerStateValue.closed);
        log.info({ breaker: 'closed' }, 'circuit breaker closed');
      });
      this.#breakers.set(provider, breaker);
    }
    return breaker;
  }

  /** Runs `call` through `provider`'s breaker; rejects with {@link BreakerOpenError} while it is open. */
  async fire<T>(provider: string, call: () => Promise<T>): Promise<T> {
    try {
      return (await this.#breaker(provider).fire(call)) as T;
    } catch (error) {
      if ((error as { code?: string } | null)?.code === 'EOPENBREAKER') throw new BreakerOpenError(provider);
      throw error;
    }
  }

  /** Opens `provider`'s breaker now (an auth failure: no point in trying until someone fixes the credentials). */
  /** How long an open breaker waits before it lets a probe call through, in ms. */
  get resetTimeoutMs(): number {
    return this.#settings.resetTimeoutMs;
  }

  trip(provider: string): void {
    const breaker = this.#breaker(provider);
    if (!breaker.opened) breaker.open();
  }

  state(provider: string): BreakerState {
    const breaker = this.#breakers.get(provider);
    if (!breaker) return 'closed';
    if (breaker.halfOpen) return 'half_open';
    return breaker.opened ? 'open' : 'closed';
  }

  /** Stops the breakers' timers. */
  shutdown(): void {
    for (const breaker of this.#breakers.values()) breaker.shutdown();
    this.#breakers.clear();
  }
}

/** The provider's breaker is open: the call was not made. */
export class BreakerOpenError extends Error {
  readonly code = 'breaker_open';
  readonly provider: string;
  constructor(provider: string) {
    super(`circuit breaker for ${provider} is open`);
    this.name = 'BreakerOpenError';
    this.provider = provider;
  }
}
