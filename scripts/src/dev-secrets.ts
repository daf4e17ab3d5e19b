import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDir } from './local-services';

const names = ['DB_ENCRYPTION_KEY', 'BLIND_INDEX_KEY'] as const;

/**
 * Development values for the secrets that have no default, generated once and kept in
 * `.data/dev-secrets.json` (git-ignored, mode 600) so that data encrypted in one run can be read
 * in the next. Never used when NODE_ENV=production.
 */
export function devSecrets(dataDir: string): Record<(typeof names)[number], string> {
  const file = join(dataDir, 'dev-secrets.json');
  if (existsSync(file)) {
    const stored = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
    if (names.every((name) => typeof stored[name] === 'string')) return stored as Record<(typeof names)[number], string>;
  }
  ensureDir(dataDir);
  const secrets = Object.fromEntries(names.map((name) => [name, randomBytes(32).toString('base64url')])) as Record<(typeof names)[number], string>;
  writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  return secrets;
}
