import Handlebars from 'handlebars';
import { digestItems, digestMessageType, type JsonObject, type JsonValue } from '@crm/core';
import { handlebars, templateHelpers } from './helpers';
import { MissingTemplateVariablesError } from './missing-variables-error';
import type { EmailTemplateSource, EmailTemplateType } from './template-types';

/** What every email carries besides the template's variables: the CAN-SPAM footer. */
export interface RenderContext {
  /** The one-click unsubscribe link of this communication (absolute https). */
  readonly unsubscribeUrl: string;
  /** The sender's postal address. */
  readonly postalAddress: string;
}

/** One rendered email. */
export interface RenderedEmail {
  /** One line: whitespace, including line breaks, collapsed to single spaces. */
  readonly subject: string;
  /** The HTML part; variables are HTML-escaped. */
  readonly html: string;
  /** The plain-text part; variables appear as given (text/plain is not HTML). */
  readonly text: string;
}

/** A template bound to its compiled HTML: cheap to render, many times. */
export interface CompiledEmailTemplate {
  readonly messageType: EmailTemplateType;
  /** The compiled HTML it was bound to (from {@link compileMjml}). */
  readonly html: string;
  /**
   * Renders with `variables` and the footer `context` (context wins over a variable of the same
   * name). Throws {@link MissingTemplateVariablesError} naming every required variable, and every
   * context field, that is absent, `null` or blank.
   */
  render(variables: JsonObject, context: RenderContext): RenderedEmail;
}

type Template = (data: Record<string, unknown>) => string;

const compileOptions = { knownHelpers: Object.fromEntries(Object.keys(templateHelpers).map((name) => [name, true])), knownHelpersOnly: true } as const;

/** Every `{{{…}}}` or `{{& …}}` in a template: output that would not be escaped. */
function unescapedOutputs(ast: hbs.AST.Program): string[] {
  const found: string[] = [];
  class Finder extends Handlebars.Visitor {
    override MustacheStatement(node: hbs.AST.MustacheStatement): void {
      if (!node.escaped) found.push(`line ${node.loc.start.line}`);
      super.MustacheStatement(node);
    }
  }
  new Finder().accept(ast);
  return found;
}

/**
 * Parses and compiles one Handlebars template of `messageType`; throws on a syntax error, an
 * unknown helper or unescaped output (`{{{ }}}`, `{{& }}`), naming the part.
 */
function compilePart(messageType: EmailTemplateType, part: 'subject' | 'html' | 'text', source: string): Template {
  let ast: hbs.AST.Program;
  try {
    ast = handlebars.parse(source);
  } catch (error) {
    throw new Error(`the ${part} of the ${messageType} email template is not valid Handlebars: ${(error as Error).message}`, { cause: error });
  }
  const unescaped = unescapedOutputs(ast);
  if (unescaped.length > 0) {
    throw new Error(`the ${part} of the ${messageType} email template has unescaped output ({{{ }}} or {{& }}) at ${unescaped.join(', ')}; use {{ }}`);
  }
  // Text and subject are not HTML: escaping them would show "&amp;" to the reader.
  const options = { ...compileOptions, noEscape: part !== 'html' };
  try {
    // Compiles now (compile() is lazy), so an unknown helper fails here and not at the first send.
    handlebars.precompile(ast, options);
  } catch (error) {
    throw new Error(`the ${part} of the ${messageType} email template does not compile: ${(error as Error).message}`, { cause: error });
  }
  return handlebars.compile(ast, options) as Template;
}

const isBlank = (value: JsonValue | undefined): boolean => value === undefined || value === null || (typeof value === 'string' && value.trim() === '');

/**
 * Binds a template's subject and text, and the HTML from {@link compileMjml}, into a
 * {@link CompiledEmailTemplate}. Cheap (Handlebars only): the template store rebuilds it from the
 * cached HTML. Throws when a part is not valid Handlebars, calls a helper other than
 * `money`, `title`, `details` and the built-ins, or has unescaped output (`{{{ }}}`).
 *
 * The HTML sees the variables, the context and `subject` (the rendered subject, for the
 * layout's `<title>`); the text sees the variables and the context. A digest's `items` are
 * read with core's `digestItems` (malformed entries skipped).
 *
 * @example
 * const template = bindEmailTemplate(source, await compileMjml(source));
 * const { subject, html, text } = template.render(source.sampleVariables, { unsubscribeUrl, postalAddress });
 */
export function bindEmailTemplate(
  source: Pick<EmailTemplateSource, 'messageType' | 'subject' | 'text' | 'requiredVariables'>,
  compiledHtml: string,
): CompiledEmailTemplate {
  const { messageType } = source;
  const subject = compilePart(messageType, 'subject', source.subject);
  const html = compilePart(messageType, 'html', compiledHtml);
  const text = compilePart(messageType, 'text', source.text);
  const required = Object.freeze([...source.requiredVariables]);
  return Object.freeze({
    messageType,
    html: compiledHtml,
    render(variables: JsonObject, context: RenderContext): RenderedEmail {
      const missing = [
        ...required.filter((name) => isBlank(Object.hasOwn(variables, name) ? variables[name] : undefined)),
        ...(['unsubscribeUrl', 'postalAddress'] as const).filter((name) => isBlank(context[name])),
      ];
      if (missing.length > 0) throw new MissingTemplateVariablesError(messageType, missing);
      const data = {
        ...variables,
        // A digest shows its well-formed items only, as core's digestItems reads them.
        ...(messageType === digestMessageType && { items: digestItems(variables) }),
        unsubscribeUrl: context.unsubscribeUrl,
        postalAddress: context.postalAddress,
      };
      const renderedSubject = subject(data).replace(/\s+/g, ' ').trim();
      return { subject: renderedSubject, html: html({ ...data, subject: renderedSubject }), text: text(data) };
    },
  });
}
