/**
 * `npm run apikey:create -- --name <name>` — makes an API key in the database of DATABASE_URL
 * and prints it once (only its SHA-256 is stored; it cannot be shown again). Run the
 * migrations first (`npm run migrate`; `npm start` does it too).
 *
 *   --name <name>   what the key is for, 1–100 characters (shown in lists, e.g. `workflow-prod`)
 *   --json          print {"id","name","key","keyPrefix"} instead of text
 */
import { parseArgs } from 'node:util';
import { ApiKeyRepository } from '@crm/db';
import { runScript, withScriptDatabase } from './script-database';

const usage = 'usage: npm run apikey:create -- --name <name> [--json]';

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: process.argv.slice(2), options: { name: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', default: false } }, strict: true });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${usage}\n`);
    return 64;
  }
  if (parsed.values.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const name = parsed.values.name?.trim() ?? '';
  if (name.length < 1 || name.length > 100) {
    process.stderr.write(`--name is required (1 to 100 characters)\n${usage}\n`);
    return 64;
  }
  return withScriptDatabase('apikey-create', async (db) => {
    try {
      const created = await ApiKeyRepository.create(db, { name });
      if (parsed.values.json) process.stdout.write(`${JSON.stringify(created)}\n`);
      else {
        process.stdout.write(`API key "${created.name}" (id ${created.id}):\n\n  ${created.key}\n\n`);
        process.stdout.write('Keep it now: it is stored hashed and cannot be shown again. Send it as\n');
        process.stdout.write(`  Authorization: Bearer ${created.key}\n`);
      }
      return 0;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      process.stderr.write(`apikey:create failed: ${message}${/crm_api_keys/.test(message) ? ' (run npm run migrate first)' : ''}\n`);
      return 1;
    }
  });
}

runScript('apikey:create', main);
