import { sql } from 'kysely';
import type { MessageChannel, PreferencesInput } from '@crm/core';
import { emailFromExcluded, normaliseEmail, normalisePhone } from './client-contact-repository';
import type { Executor } from './communication-repository';
import { currentKeyId, decryptPiiSql, encryptPiiSql, type PiiKeys } from './pii-crypto';

/** A client's stored preferences, contact details decrypted (for the API caller who owns them). */
export interface StoredPreferences {
  readonly clientId: string;
  /** `null`: never stated (the configured default applies). */
  readonly channels: MessageChannel[] | null;
  /** `null`: never stated (the configured default applies). */
  readonly timezone: string | null;
  /** `HH:MM` local times; `null`: never stated (the configured default applies). */
  readonly quietHours: { readonly start: string; readonly end: string } | null;
  readonly optOuts: MessageChannel[];
  readonly language: string;
  readonly batching: boolean;
  readonly email: string | null;
  readonly phone: string | null;
  /** The address bounced (SMTP 5xx) and is not used for email until it changes. */
  readonly emailSuppressed: boolean;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** The columns of {@link StoredPreferences}, decrypting email and phone with `keys`. */
const storedColumns = (keys: PiiKeys) =>
  [
    'client_id',
    'channels',
    'timezone',
    'quiet_hours_start',
    'quiet_hours_end',
    'opt_outs',
    'language',
    'batching',
    'created_at',
    'updated_at',
    sql<boolean>`email_suppressed_at IS NOT NULL`.as('email_suppressed'),
    decryptPiiSql('email_encrypted', 'email_key_id', keys).as('email'),
    decryptPiiSql('phone_encrypted', 'phone_key_id', keys).as('phone'),
  ] as const;

interface StoredRow {
  readonly client_id: string;
  readonly channels: MessageChannel[] | null;
  readonly timezone: string | null;
  readonly quiet_hours_start: string | null;
  readonly quiet_hours_end: string | null;
  readonly opt_outs: MessageChannel[];
  readonly language: string;
  readonly batching: boolean;
  readonly created_at: Date;
  readonly updated_at: Date;
  readonly email_suppressed: boolean;
  readonly email: string | null;
  readonly phone: string | null;
}

function storedOf(row: StoredRow): StoredPreferences {
  return {
    clientId: row.client_id,
    channels: row.channels,
    timezone: row.timezone,
    // PostgreSQL prints a time as HH:MM:SS.
    quietHours: row.quiet_hours_start && row.quiet_hours_end ? { start: row.quiet_hours_start.slice(0, 5), end: row.quiet_hours_end.slice(0, 5) } : null,
    optOuts: row.opt_outs,
    language: row.language,
    batching: row.batching,
    email: row.email,
    phone: row.phone,
    emailSuppressed: row.email_suppressed,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/**
 * Creates or updates the client's row of `crm_client_preferences` in one statement and answers
 * what is stored afterwards. Fields left out (`undefined`) keep their stored value (or the
 * column's default for a new row); `null` resets `channels`, `timezone` and `quietHours` to
 * "never stated" (the configured defaults apply) and removes `email` or `phone`. Email and
 * phone are normalised, encrypted with the current key (its id stored beside them) and
 * blind-indexed, as `upsertClientContact` does; a changed (or removed) address clears the
 * email suppression, the same one stays suppressed.
 *
 * @example
 * const stored = await upsertPreferences(db, keys, { clientId: 'client-42', channels: ['sms', 'email'], phone: '+14155550123' });
 */
export async function upsertPreferences(db: Executor, keys: PiiKeys, input: PreferencesInput): Promise<StoredPreferences> {
  const email = input.email === undefined || input.email === null ? input.email : normaliseEmail(input.email);
  const phone = input.phone === undefined || input.phone === null ? input.phone : normalisePhone(input.phone);
  const hmac = (value: string) => sql<Buffer>`hmac(${value}::text, ${keys.blindIndexKey}::text, 'sha256')`;
  const quiet = input.quietHours;
  const row = await db
    .insertInto('crm_client_preferences')
    .values({
      client_id: input.clientId,
      ...(input.channels !== undefined && { channels: input.channels }),
      ...(input.timezone !== undefined && { timezone: input.timezone }),
      ...(quiet !== undefined && { quiet_hours_start: quiet?.start ?? null, quiet_hours_end: quiet?.end ?? null }),
      ...(input.optOuts !== undefined && { opt_outs: input.optOuts }),
      ...(input.language !== undefined && { language: input.language }),
      ...(input.batching !== undefined && { batching: input.batching }),
      ...(typeof email === 'string' && { email_encrypted: encryptPiiSql(email, keys), email_hash: hmac(email), email_key_id: currentKeyId(keys) }),
      ...(typeof phone === 'string' && { phone_encrypted: encryptPiiSql(phone, keys), phone_hash: hmac(phone), phone_key_id: currentKeyId(keys) }),
    })
    .onConflict((oc) =>
      oc.column('client_id').doUpdateSet((eb) => ({
        ...(input.channels !== undefined && { channels: eb.ref('excluded.channels') }),
        ...(input.timezone !== undefined && { timezone: eb.ref('excluded.timezone') }),
        ...(quiet !== undefined && { quiet_hours_start: eb.ref('excluded.quiet_hours_start'), quiet_hours_end: eb.ref('excluded.quiet_hours_end') }),
        ...(input.optOuts !== undefined && { opt_outs: eb.ref('excluded.opt_outs') }),
        ...(input.language !== undefined && { language: eb.ref('excluded.language') }),
        ...(input.batching !== undefined && { batching: eb.ref('excluded.batching') }),
        // For a removed address the excluded columns are NULL (nothing was inserted for them).
        ...(email !== undefined && emailFromExcluded(eb)),
        ...(phone !== undefined && {
          phone_encrypted: eb.ref('excluded.phone_encrypted'),
          phone_hash: eb.ref('excluded.phone_hash'),
          phone_key_id: eb.ref('excluded.phone_key_id'),
        }),
        updated_at: sql`now()`,
      })),
    )
    .returning(storedColumns(keys))
    .executeTakeFirstOrThrow();
  return storedOf(row);
}

/**
 * The client's stored preferences with email and phone decrypted, or `undefined` for a client
 * the engine has never seen (the configured defaults apply to them).
 *
 * @example
 * const stored = await getPreferences(db, keys, 'client-42');
 */
export async function getPreferences(db: Executor, keys: PiiKeys, clientId: string): Promise<StoredPreferences | undefined> {
  const row = await db.selectFrom('crm_client_preferences').select(storedColumns(keys)).where('client_id', '=', clientId).executeTakeFirst();
  return row ? storedOf(row) : undefined;
}
