import { Counter, Registry } from 'prom-client';

/**
 * The registry of the engine's own Prometheus metrics, shared by every part of a process (ingest
 * serves it at `/metrics`). Labels are ids of kinds and outcomes only: never an email address,
 * phone number, client id or message text.
 */
export const metricsRegistry = new Registry();

/**
 * Reads of routing preferences through the Redis cache, per client: `hit` (answered from Redis)
 * or `miss` (read from PostgreSQL: not cached, expired, invalidated, or Redis unavailable).
 */
export const preferencesCacheCounter = new Counter({
  name: 'crm_preferences_cache_total',
  help: 'Routing preference lookups through the Redis cache, by result (hit or miss)',
  labelNames: ['result'] as const,
  registers: [metricsRegistry],
});
