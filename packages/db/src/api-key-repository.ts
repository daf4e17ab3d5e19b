import { createHash, randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { Executor } from './communication-repository';

/** Every key starts with this, so that a leaked one is easy to recognise (secret scanners). */
export const API_KEY_PREFIX = 'crm_live_';
/** Characters of a key shown in lists and logs: the prefix and the first 8 random ones. */
const DISPLAY_LENGTH = API_KEY_PREFIX.length + 8;
/** `crm_live_` and 32 to 128 base64url characters (we make 32: 24 random bytes, 192 bits). */
const KEY_PATTERN = /^crm_live_[A-Za-z0-9_-]{32,128}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A key as it is listed: never the key itself. */
export interface ApiKeySummary {
  readonly id: string;
  readonly name: string;
  /** The key's first characters, e.g. `crm_live_Ab3dE9xQ`, to tell keys apart. */
  readonly keyPrefix: string;
  readonly createdAt: Date;
  readonly lastUsedAt: Date | null;
  readonly revokedAt: Date | null;
}

/** A key just made: the only time the key itself is available. */
export interface CreatedApiKey {
  readonly id: string;
  readonly name: string;
  /** Show it once; only its SHA-256 is stored. */
  readonly key: string;
  readonly keyPrefix: string;
}

/** Who a verified key belongs to. */
export interface ApiKeyIdentity {
  readonly id: string;
  readonly name: string;
}

/** A new random key, `crm_live_` followed by 32 base64url characters (192 random bits). */
export function generateApiKey(): string {
  return `${API_KEY_PREFIX}${randomBytes(24).toString('base64url')}`;
}

/** Whether `text` has the shape of a key (cheap check before any hashing or lookup). */
export function isApiKeyShaped(text: string): boolean {
  return KEY_PATTERN.test(text);
}

/** SHA-256 of the full key: what is stored and looked up. A key is random, so no salt or KDF is needed. */
export function hashApiKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/**
 * Makes a key named `name` (1–100 characters) and returns it; only its hash is stored.
 *
 * @example
 * const { key } = await createApiKey(db, { name: 'workflow-prod' }); // print it once
 */
export async function createApiKey(db: Executor, input: { readonly name: string }): Promise<CreatedApiKey> {
  const name = input.name.trim();
  if (name.length < 1 || name.length > 100) throw new RangeError('an API key name has 1 to 100 characters');
  const key = generateApiKey();
  const keyPrefix = key.slice(0, DISPLAY_LENGTH);
  const row = await db
    .insertInto('crm_api_keys')
    .values({ name, key_prefix: keyPrefix, key_hash: hashApiKey(key) })
    .returning(['id', 'name'])
    .executeTakeFirstOrThrow();
  return { id: row.id, name: row.name, key, keyPrefix };
}

/**
 * Who `key` belongs to, or `null` when it is malformed, unknown or revoked. The lookup is by
 * the key's SHA-256, so the key itself is never compared or sent to the database.
 */
export async function verifyApiKey(db: Executor, key: string): Promise<ApiKeyIdentity | null> {
  if (!isApiKeyShaped(key)) return null;
  return verifyApiKeyHash(db, hashApiKey(key));
}

/** {@link verifyApiKey} for a hash already computed (callers that cache by hash). */
export async function verifyApiKeyHash(db: Executor, keyHash: Buffer): Promise<ApiKeyIdentity | null> {
  const row = await db
    .selectFrom('crm_api_keys')
    .select(['id', 'name'])
    .where('key_hash', '=', keyHash)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return row ?? null;
}

/** Revokes a key; `false` when there is no such key or it was revoked already. */
export async function revokeApiKey(db: Executor, id: string): Promise<boolean> {
  if (!UUID.test(id)) return false;
  const result = await db
    .updateTable('crm_api_keys')
    .set({ revoked_at: sql`now()` })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Every key, newest first, revoked ones included (with `revokedAt`). */
export async function listApiKeys(db: Executor): Promise<ApiKeySummary[]> {
  const rows = await db
    .selectFrom('crm_api_keys')
    .select(['id', 'name', 'key_prefix', 'created_at', 'last_used_at', 'revoked_at'])
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .execute();
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    keyPrefix: row.key_prefix,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  }));
}

/** Stamps `last_used_at` (callers throttle this; ingest does it at most once a minute per key). */
export async function touchApiKey(db: Executor, id: string): Promise<void> {
  await db.updateTable('crm_api_keys').set({ last_used_at: sql`now()` }).where('id', '=', id).execute();
}

/**
 * The API key repository: every function takes the database (or a transaction) first.
 *
 * @example
 * const { key } = await ApiKeyRepository.create(db, { name: 'workflow' });
 * await ApiKeyRepository.verify(db, key); // { id, name }
 */
export const ApiKeyRepository = Object.freeze({
  create: createApiKey,
  verify: verifyApiKey,
  verifyHash: verifyApiKeyHash,
  revoke: revokeApiKey,
  list: listApiKeys,
  touch: touchApiKey,
});
