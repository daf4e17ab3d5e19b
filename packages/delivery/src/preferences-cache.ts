import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import { getRoutingPreferencesMany, type Database, type RoutingPreferences } from '@crm/db';
import type { Logger } from '@crm/observability';

/** STUB (issue 8, being built): see the helper's prompt. */
export interface PreferencesCacheOptions {
  readonly db: Kysely<Database>;
  readonly redis: Redis;
  /** Keys live under `${prefix}:prefs:`. */
  readonly prefix: string;
  /** 0: no cache (every read goes to PostgreSQL). @defaultValue 3600 */
  readonly ttlSeconds?: number;
  readonly logger?: Logger;
}

/** STUB: reads through to PostgreSQL; the cache itself is being built. */
export class PreferencesCache {
  readonly #options: PreferencesCacheOptions;
  constructor(options: PreferencesCacheOptions) {
    this.#options = options;
  }
  /** The routing preferences of each known client in `clientIds`. */
  async getMany(clientIds: readonly string[]): Promise<Map<string, RoutingPreferences>> {
    return getRoutingPreferencesMany(this.#options.db, clientIds);
  }
  /** Drops the cached entries of these clients (after a committed change). */
  async invalidate(clientIds: readonly string[]): Promise<void> {
    void clientIds;
  }
}
