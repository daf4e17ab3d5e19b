/**
 * `npm run env:template`: writes `.env.template` and the README's configuration table from the
 * variable table in packages/config, so the three never disagree (a test checks it).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderConfigTable, renderEnvTemplate } from '@crm/config';

const root = join(__dirname, '..', '..');
const start = '<!-- config-table:start -->';
const end = '<!-- config-table:end -->';

writeFileSync(join(root, '.env.template'), renderEnvTemplate());
const readmePath = join(root, 'README.md');
const readme = readFileSync(readmePath, 'utf8');
const from = readme.indexOf(start);
const to = readme.indexOf(end);
if (from < 0 || to < from) {
  process.stderr.write(`README.md has no ${start} … ${end} block\n`);
  process.exit(1);
}
writeFileSync(readmePath, `${readme.slice(0, from + start.length)}\n${renderConfigTable()}\n${readme.slice(to)}`);
process.stdout.write('wrote .env.template and the README configuration table\n');
