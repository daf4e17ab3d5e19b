import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDir } from './local-services';

const names = ['DB_ENCRYPTION_KEY', 'BLIND_INDEX_KEY', 'OPERATOR_PASSWORD'] as const;
export type DevSecrets = Record<(typeof names)[number], string>;

/**
 * Development values for the secrets that have no default, generated once and kept in
 * `.data/dev-secrets.json` (git-ignored, mode 600) so that data encrypted in one run can be read
 * in the next: the two data keys, and the operator password of Bull Board. A value missing
 * from an older file is added without touching the ones already there. Never used when
 * NODE_ENV=production.
 */
export function devSecrets(dataDir: string): DevSecrets {
  const file = join(dataDir, 'dev-secrets.json');
  const stored: Record<string, unknown> = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  const missing = names.filter((name) => typeof stored[name] !== 'string' || stored[name] === '');
  if (missing.length === 0) return stored as DevSecrets;
  const secrets = { ...stored } as Record<string, string>;
  for (const name of missing) secrets[name] = randomBytes(name === 'OPERATOR_PASSWORD' ? 18 : 32).toString('base64url');
  ensureDir(dataDir);
  writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  return secrets as DevSecrets;
}
