import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { problemBody, problemTypes, type ProblemCode } from '@crm/ingest';

// Every problem's `type` links to its entry in docs/api.md: that entry must exist.
const doc = readFileSync(join(__dirname, '..', '..', '..', 'docs', 'api.md'), 'utf8');

describe('docs/api.md', () => {
  it.each(Object.keys(problemTypes) as ProblemCode[])('documents the problem %s with its status', (code) => {
    const anchor = problemBody(code, '').type.split('#')[1]!;
    const row = doc.split('\n').find((line) => line.includes(`<a id="${anchor}"></a>\`${code}\``));
    expect(row).toBeDefined();
    expect(row).toContain(`| ${problemTypes[code].status} |`);
  });
});
