import mjml2html from 'mjml';
import type { EmailTemplateSource } from './template-types';

interface MjmlError {
  readonly formattedMessage?: string;
  readonly message?: string;
}

/** Where leading whitespace is content: a pre or textarea element, or CSS `white-space: pre…`. */
const whitespaceMatters = /<(?:pre|textarea|plaintext|xmp|listing)[\s>]|white-space\s*:\s*(?:pre|break-spaces)/i;

/**
 * MJML's output without its indentation (about a quarter of its size: more room under Gmail's
 * clipping limit for long vendor lists and digests). Removing the spaces after a line break
 * changes nothing a reader sees, except where whitespace is preserved; such documents are left
 * as they are. (MJML's own `minify` loads htmlnano with a dynamic import, which jest cannot run.)
 */
export function stripIndentation(html: string): string {
  return whitespaceMatters.test(html) ? html : html.replace(/\n[ \t]+/g, '\n').replace(/\n{2,}/g, '\n');
}

const describe = (errors: readonly MjmlError[]): string => errors.map((e) => e.formattedMessage ?? e.message ?? String(e)).join('; ');

/**
 * Compiles a template's MJML document to HTML: the expensive step (tens of ms), done once per
 * template version. The HTML still holds the Handlebars placeholders (`{{clientName}}`, the
 * layout's `{{subject}}`, `{{postalAddress}}`, `{{unsubscribeUrl}}`, `{{#each}}` blocks); hand it
 * to {@link bindEmailTemplate}. The result is a plain, self-contained string, fit to cache.
 *
 * Validation is strict: any MJML error (unknown tag, tag in the wrong place, bad attribute)
 * rejects with every error named. `mj-include` is ignored (a stored template must not read
 * files). The indentation of MJML's output is removed ({@link stripIndentation}).
 *
 * @example const html = await compileMjml(source); // '<!doctype html>…Welcome, {{clientName}}!…'
 */
export async function compileMjml(source: EmailTemplateSource): Promise<string> {
  let result;
  try {
    result = await mjml2html(source.mjml, {
      validationLevel: 'strict',
      ignoreIncludes: true,
      keepComments: false,
    });
  } catch (error) {
    const errors = (error as { errors?: MjmlError[] }).errors;
    const detail = Array.isArray(errors) && errors.length > 0 ? describe(errors) : (error as Error).message;
    throw new Error(`the ${source.messageType} email template is not valid MJML: ${detail}`, { cause: error });
  }
  if (result.errors.length > 0) throw new Error(`the ${source.messageType} email template is not valid MJML: ${describe(result.errors)}`);
  return stripIndentation(result.html);
}
