/**
 * `npm run keys:rotate` — re-encrypts the personal data (email, phone, message text) that is not
 * under the current DB_ENCRYPTION_KEY, in batches, while the engine keeps running.
 *
 * The procedure (docs/security.md): give every process the new DB_ENCRYPTION_KEY with the old one
 * in DB_ENCRYPTION_PREVIOUS_KEYS and restart them (they write with the new key and read both);
 * run this; when it reports 0 remaining, drop the old key from DB_ENCRYPTION_PREVIOUS_KEYS.
 * Running it again is harmless.
 *
 *   --batch-size <n>  rows per statement (1–10000, default 500)
 *   --dry-run         only count the values not yet under the current key
 *   --json            print the result as JSON
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '@crm/config';
import { countStaleEncryptedValues, createDatabase, currentKeyId, rotateEncryptionKeys, type PiiKeys } from '@crm/db';
import { runScript } from './script-database';

const usage = 'usage: npm run keys:rotate -- [--batch-size <n>] [--dry-run] [--json]';

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: process.argv.slice(2),
      options: { 'batch-size': { type: 'string', default: '500' }, 'dry-run': { type: 'boolean', default: false }, json: { type: 'boolean', default: false }, help: { type: 'boolean', default: false } },
      strict: true,
    });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${usage}\n`);
    return 64;
  }
  if (parsed.values.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const batchSize = Number(parsed.values['batch-size']);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    process.stderr.write(`--batch-size must be a whole number from 1 to 10000\n${usage}\n`);
    return 64;
  }
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 78;
    }
    throw error;
  }
  const keys: PiiKeys = {
    encryptionKey: config.security.dbEncryptionKey,
    blindIndexKey: config.security.blindIndexKey,
    previousEncryptionKeys: config.security.previousEncryptionKeys,
  };
  const db = createDatabase({ url: config.database.url, poolMax: 1, applicationName: 'keys-rotate' });
  const say = (text: string) => {
    if (!parsed.values.json) process.stdout.write(`${text}\n`);
  };
  try {
    say(`current key id ${currentKeyId(keys)}; ${keys.previousEncryptionKeys?.length ?? 0} previous key(s) given`);
    if (parsed.values['dry-run']) {
      const stale = await countStaleEncryptedValues(db, keys);
      if (parsed.values.json) process.stdout.write(`${JSON.stringify({ keyId: currentKeyId(keys), stale })}\n`);
      for (const [table, n] of Object.entries(stale)) say(`${table}: ${n} value(s) not under the current key`);
      return 0;
    }
    const started = Date.now();
    let done = 0;
    const result = await rotateEncryptionKeys(db, keys, {
      batchSize,
      onBatch: ({ table, rows }) => {
        done += rows;
        say(`${table}: ${rows} row(s) re-encrypted (${done} so far)`);
      },
    });
    const seconds = (Date.now() - started) / 1000;
    if (parsed.values.json) process.stdout.write(`${JSON.stringify({ keyId: currentKeyId(keys), ...result, seconds })}\n`);
    say(`done in ${seconds.toFixed(1)} s: ${Object.entries(result.rotated).map(([table, n]) => `${table} ${n}`).join(', ')}; ${result.remaining} value(s) remain under another key`);
    if (result.remaining === 0) say('every value is under the current key: DB_ENCRYPTION_PREVIOUS_KEYS can be emptied');
    else say('some values were written with another key meanwhile (a process still running with the old key?): run again once every process has the new key');
    return 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`keys:rotate failed: ${message}${/crm_pii_decrypt|email_key_id/.test(message) ? ' (run npm run migrate first)' : ''}\n`);
    return 1;
  } finally {
    await db.destroy();
  }
}

runScript('keys:rotate', main);
