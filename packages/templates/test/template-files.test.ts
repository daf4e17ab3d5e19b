import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultTemplateDir, emailTemplateTypes, loadEmailTemplateSources } from '@crm/templates';

const files = readdirSync(defaultTemplateDir);

/** Every string in a JSON value. */
const strings = (value: unknown): string[] =>
  typeof value === 'string' ? [value] : Array.isArray(value) ? value.flatMap(strings) : typeof value === 'object' && value !== null ? Object.values(value).flatMap(strings) : [];

describe('the template files', () => {
  it('never use unescaped Handlebars output ({{{ }}} or {{& }})', () => {
    expect(files.length).toBeGreaterThan(emailTemplateTypes.length * 3);
    const offending = files.filter((file) => /\{\{\{|\{\{~?&/.test(readFileSync(join(defaultTemplateDir, file), 'utf8')));
    expect(offending).toEqual([]);
  });

  it('are the MJML body, the plain text and the subject/required/sample of every type, plus the layouts', () => {
    const expected = emailTemplateTypes.flatMap((type) => [`${type}.mjml`, `${type}.txt.hbs`, `${type}.json`]);
    expect([...files].sort()).toEqual([...expected, 'layout.mjml', 'layout.txt.hbs'].sort());
    for (const type of emailTemplateTypes) {
      const body = readFileSync(join(defaultTemplateDir, `${type}.mjml`), 'utf8');
      expect(body).not.toMatch(/<mjml|<mj-body|<mj-head/);
      expect(body.trim()).toMatch(/^<mj-(section|wrapper|raw)/);
      const meta = JSON.parse(readFileSync(join(defaultTemplateDir, `${type}.json`), 'utf8')) as Record<string, unknown>;
      expect(Object.keys(meta).sort()).toEqual(['required', 'sample', 'subject']);
    }
  });

  it('ask for the client’s name everywhere but the digest, and their samples hold every required variable', () => {
    for (const source of loadEmailTemplateSources()) {
      if (source.messageType !== 'digest') expect(source.requiredVariables).toContain('clientName');
      expect(source.requiredVariables.filter((name) => !(name in source.sampleVariables))).toEqual([]);
    }
  });

  it('use https for every URL in their samples', () => {
    const urls = loadEmailTemplateSources().flatMap((source) => strings(source.sampleVariables)).filter((value) => /^[a-z]+:\/\//i.test(value));
    expect(urls.length).toBeGreaterThan(0);
    expect(urls.filter((url) => !url.startsWith('https://'))).toEqual([]);
  });

  it('put the footer (postal address, unsubscribe link) in both layouts', () => {
    const layout = readFileSync(join(defaultTemplateDir, 'layout.mjml'), 'utf8');
    expect(layout).toContain('{{postalAddress}}');
    expect(layout).toContain('href="{{unsubscribeUrl}}"');
    expect(layout).toContain('<mj-body width="600px"');
    const text = readFileSync(join(defaultTemplateDir, 'layout.txt.hbs'), 'utf8');
    expect(text).toContain('{{postalAddress}}');
    expect(text).toContain('{{unsubscribeUrl}}');
  });
});
