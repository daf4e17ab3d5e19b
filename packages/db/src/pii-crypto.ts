import { createHash } from 'node:crypto';
import { sql, type RawBuilder } from 'kysely';

/** The keys for personal data; they travel as query parameters and are never logged. */
export interface PiiKeys {
  /** pgcrypto symmetric key for email, phone and message text: every new value is encrypted with it. */
  readonly encryptionKey: string;
  /** HMAC key of the blind index. */
  readonly blindIndexKey: string;
  /**
   * Keys that encrypted older rows and may still decrypt them while `npm run keys:rotate`
   * re-encrypts those rows (`DB_ENCRYPTION_PREVIOUS_KEYS`). @defaultValue none
   */
  readonly previousEncryptionKeys?: readonly string[];
}

/**
 * The id stored next to a value encrypted with `key` (`email_key_id`, `phone_key_id`, `body_key_id`): the first 16 hex digits of a
 * SHA-256 of the key under a fixed label. It names the key without revealing anything usable
 * about it (the key is a random secret of 32+ characters), and it can never disagree with the
 * key, as a configured id could.
 */
export function piiKeyId(key: string): string {
  return createHash('sha256').update('crm-engine pii key id\0', 'utf8').update(key, 'utf8').digest('hex').slice(0, 16);
}

/** The id of the key new values are encrypted with. */
export const currentKeyId = (keys: PiiKeys): string => piiKeyId(keys.encryptionKey);

/** Every key that may decrypt, the current one first, without repeats. */
export function decryptionKeysOf(keys: PiiKeys): string[] {
  return [...new Set([keys.encryptionKey, ...(keys.previousEncryptionKeys ?? [])])];
}

/**
 * pgcrypto options for personal data: AES-256, and S2K mode 1 (salted, not iterated). The
 * iterated default stretches a *password* against guessing and costs ~0.4 ms of database CPU per
 * call (measured: 1,000 encryptions 365 ms vs 16 ms); DB_ENCRYPTION_KEY is a random secret of 32+
 * characters, which stretching does not make any harder to guess. Decryption reads the mode from
 * the ciphertext, so rows written with the iterated default still decrypt.
 */
export const PGP_OPTIONS = 'cipher-algo=aes256, s2k-mode=1';

/** `value` (an SQL text expression) encrypted with the current key; store {@link currentKeyId} beside it. */
export function encryptPiiSql(value: RawBuilder<unknown> | string, keys: PiiKeys): RawBuilder<Buffer> {
  const text = typeof value === 'string' ? sql`${value}::text` : value;
  return sql<Buffer>`pgp_sym_encrypt(${text}, ${keys.encryptionKey}::text, ${PGP_OPTIONS})`;
}

/**
 * The SQL that decrypts `column`, with the key its row names in `keyIdColumn` (the current key
 * or one of the previous ones). A row without a key id (written before migration 0009) is tried
 * with each key in turn. `crm_pii_decrypt` raises `no key decrypts` when no key fits, rather
 * than answer garbage.
 *
 * @example
 * db.selectFrom('crm_client_preferences').select(decryptPiiSql('email_encrypted', 'email_key_id', keys).as('email'))
 */
export function decryptPiiSql(column: string, keyIdColumn: string, keys: PiiKeys): RawBuilder<string | null> {
  const all = decryptionKeysOf(keys);
  return sql<string | null>`crm_pii_decrypt(${sql.ref(column)}, ${sql.ref(keyIdColumn)}, ${all.map(piiKeyId)}::text[], ${all}::text[])`;
}
