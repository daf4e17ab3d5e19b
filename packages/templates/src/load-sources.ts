import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { JsonObject } from '@crm/core';
import { emailTemplateTypes, type EmailTemplateSource, type EmailTemplateType } from './template-types';

/** Where `layout.mjml` takes a type's body sections. */
export const MJML_BODY_MARKER = '<!-- body -->';
/** Where `layout.txt.hbs` takes a type's plain text. */
export const TEXT_BODY_MARKER = '{{!-- body --}}';

/** The package's email/ folder, from src/ (tests) and from dist/ (built) alike. */
export const defaultTemplateDir = resolve(__dirname, '..', 'email');

interface TemplateMeta {
  readonly subject: string;
  readonly required: string[];
  readonly sample: JsonObject;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function parseMeta(file: string, content: string): TemplateMeta {
  let meta: unknown;
  try {
    meta = JSON.parse(content);
  } catch (error) {
    throw new Error(`${file} is not valid JSON: ${(error as Error).message}`);
  }
  if (!isObject(meta) || typeof meta.subject !== 'string' || meta.subject.trim() === '') throw new Error(`${file} needs a non-empty "subject"`);
  if (!Array.isArray(meta.required) || !meta.required.every((name) => typeof name === 'string')) throw new Error(`${file} needs "required": an array of variable names`);
  if (!isObject(meta.sample)) throw new Error(`${file} needs "sample": an object of variables`);
  return { subject: meta.subject, required: meta.required as string[], sample: meta.sample as JsonObject };
}

function insertAt(layout: string, marker: string, body: string, file: string): string {
  const at = layout.indexOf(marker);
  if (at < 0 || layout.indexOf(marker, at + marker.length) >= 0) throw new Error(`${file} must contain ${marker} exactly once`);
  return layout.slice(0, at) + body + layout.slice(at + marker.length);
}

function readSource(dir: string, messageType: EmailTemplateType, layouts: { readonly mjml: string; readonly text: string }): EmailTemplateSource {
  const read = (name: string): string => readFileSync(join(dir, name), 'utf8');
  const meta = parseMeta(`${messageType}.json`, read(`${messageType}.json`));
  return {
    messageType,
    channel: 'email',
    language: 'en',
    subject: meta.subject,
    mjml: insertAt(layouts.mjml, MJML_BODY_MARKER, read(`${messageType}.mjml`).trim(), 'layout.mjml'),
    text: insertAt(layouts.text, TEXT_BODY_MARKER, read(`${messageType}.txt.hbs`).trim(), 'layout.txt.hbs'),
    requiredVariables: meta.required,
    sampleVariables: meta.sample,
  };
}

/**
 * Reads the email templates of every type in {@link emailTemplateTypes} from `dir`: for each type
 * `<type>.mjml` (body sections, inserted into `layout.mjml` at `<!-- body -->`), `<type>.txt.hbs`
 * (inserted into `layout.txt.hbs` at `{{!-- body --}}`) and `<type>.json`
 * (`{ subject, required, sample }`). Throws naming the file when one is missing or malformed.
 *
 * @param dir the folder of the template files; defaults to the package's email/ folder.
 * @example loadEmailTemplateSources().find((s) => s.messageType === 'welcome')?.requiredVariables // ['clientName', 'eventName', 'plannerName']
 */
export function loadEmailTemplateSources(dir: string = defaultTemplateDir): EmailTemplateSource[] {
  const layouts = { mjml: readFileSync(join(dir, 'layout.mjml'), 'utf8'), text: readFileSync(join(dir, 'layout.txt.hbs'), 'utf8') };
  return emailTemplateTypes.map((messageType) => readSource(dir, messageType, layouts));
}
