import { parse, Tokenizer, TokenizerMode, type ParserError, type Token, type TokenHandler } from 'parse5';

/** Gmail clips a message whose HTML is this many bytes or more ("[Message clipped]"). */
export const GMAIL_CLIP_BYTES = 102 * 1024;

/** The result of {@link validateHtml}: `valid` when there are no problems. */
export interface HtmlValidation {
  readonly valid: boolean;
  /** One readable sentence per problem, with its line where it has one. */
  readonly problems: string[];
}

/**
 * parse5 errors that say nothing about structure: odd characters in the input stream (a control
 * character in a client's name), which browsers and mail clients show or drop harmlessly. Every
 * other parse error (a broken tag, attribute, comment or doctype, a missing doctype) is a problem.
 */
const harmlessParseErrors: ReadonlySet<string> = new Set([
  'control-character-in-input-stream',
  'noncharacter-in-input-stream',
  'surrogate-in-input-stream',
]);

const voidElements: ReadonlySet<string> = new Set([
  'area', 'base', 'basefont', 'bgsound', 'br', 'col', 'embed', 'frame', 'hr', 'image', 'img', 'input', 'keygen', 'link', 'meta', 'param', 'source', 'track', 'wbr',
]);
/** Elements whose content the tokenizer reads as text, and how. */
const textContent: ReadonlyMap<string, (typeof TokenizerMode)[keyof typeof TokenizerMode]> = new Map([
  ['title', TokenizerMode.RCDATA], ['textarea', TokenizerMode.RCDATA],
  ['style', TokenizerMode.RAWTEXT], ['xmp', TokenizerMode.RAWTEXT], ['iframe', TokenizerMode.RAWTEXT], ['noembed', TokenizerMode.RAWTEXT], ['noframes', TokenizerMode.RAWTEXT],
  ['script', TokenizerMode.SCRIPT_DATA], ['plaintext', TokenizerMode.PLAINTEXT],
]);
/** Elements that run code or embed other documents. */
const activeElements: ReadonlySet<string> = new Set(['script', 'iframe', 'object', 'embed', 'applet', 'frame', 'frameset']);
/** Attributes that hold a URL (or, for style and srcset, may contain one). */
const urlAttributes: ReadonlySet<string> = new Set(['href', 'src', 'action', 'formaction', 'background', 'poster', 'cite', 'data', 'srcset', 'xlink:href', 'style', 'lowsrc', 'dynsrc']);

const clip = (value: string, max = 80): string => (value.length > max ? `${value.slice(0, max - 1)}…` : value);
const at = (line: number | undefined): string => (line === undefined ? '' : `Line ${line}: `);
/** A URL as a browser reads it: without ASCII whitespace and control characters, lower case. */
const normalizedUrl = (value: string): string =>
  [...value].filter((char) => char.charCodeAt(0) > 0x20 && char.charCodeAt(0) !== 0x7f).join('').toLowerCase();
const scriptUrl = /(?:java|vb)script:/;

function absoluteProtocol(value: string): string | null {
  try {
    return new URL(value.trim()).protocol;
  } catch {
    return null;
  }
}

/** The checks on one start tag: active content, event handlers, script URLs, images, links. */
function checkStartTag(tag: Token.TagToken, line: number | undefined, problems: string[]): void {
  const name = tag.tagName;
  const attr = (attrName: string): string | undefined => tag.attrs.find((a) => a.name === attrName)?.value;
  if (activeElements.has(name)) problems.push(`${at(line)}a <${name}> element is not allowed in an email.`);
  for (const { name: attrName, value } of tag.attrs) {
    if (/^on/i.test(attrName)) problems.push(`${at(line)}<${name}> has the event-handler attribute ${attrName}; event handlers are not allowed.`);
    else if (urlAttributes.has(attrName) && scriptUrl.test(normalizedUrl(value))) {
      problems.push(`${at(line)}<${name} ${attrName}="${clip(value)}"> uses a javascript: URL.`);
    }
  }
  if (name === 'img') {
    const src = attr('src');
    const alt = attr('alt');
    const isPixel = alt === '' && /^1(px)?$/i.test(attr('width')?.trim() ?? '') && /^1(px)?$/i.test(attr('height')?.trim() ?? '');
    if (alt === undefined || (alt.trim() === '' && !isPixel)) problems.push(`${at(line)}the image ${src ? `"${clip(src)}" ` : ''}has no alt text.`);
    if (src === undefined || src.trim() === '') problems.push(`${at(line)}an image has no src.`);
    else if (absoluteProtocol(src) !== 'https:' && !/^cid:/i.test(src.trim())) problems.push(`${at(line)}the image "${clip(src)}" does not load over https (or cid:).`);
  }
  if (name === 'a' || name === 'area') {
    const href = attr('href');
    if (href !== undefined && !['https:', 'mailto:', 'tel:'].includes(absoluteProtocol(href) ?? '')) {
      problems.push(`${at(line)}the link "${clip(href)}" is not an absolute https:, mailto: or tel: URL.`);
    }
  }
}

/** The HTML inside an Outlook conditional comment (`<!--[if mso]>…<![endif]-->`), which Outlook renders. */
const conditionalContent = (comment: string): string | null => /^\[if[^\]]*\]>([\s\S]*)<!\[endif\]$/.exec(comment)?.[1] ?? null;

/**
 * Tokenizes `html` (as parse5's parser would: raw text in style, title, script…), checks every
 * start tag, the HTML of conditional comments, and, when `balance` is set, that every element is
 * closed by its own end tag in order (parse5's parser silently repairs that).
 */
function scan(html: string, problems: string[], options: { readonly balance: boolean; readonly lineOffset: number }): void {
  const open: { name: string; line: number | undefined }[] = [];
  const lineOf = (token: { location: Token.Location | null }): number | undefined =>
    token.location ? token.location.startLine + options.lineOffset : undefined;
  const noop = (): void => undefined;
  const handler: TokenHandler = {
    onStartTag(tag) {
      const line = lineOf(tag);
      checkStartTag(tag, line, problems);
      const foreign = open.some((e) => e.name === 'svg' || e.name === 'math');
      if (!foreign) {
        const mode = textContent.get(tag.tagName);
        if (mode !== undefined && !tag.selfClosing) tokenizer.state = mode;
      }
      tokenizer.inForeignNode = foreign || tag.tagName === 'svg' || tag.tagName === 'math';
      if (!voidElements.has(tag.tagName) && !tag.selfClosing) open.push({ name: tag.tagName, line });
    },
    onEndTag(tag) {
      if (!options.balance) return;
      const line = lineOf(tag);
      const index = open.map((e) => e.name).lastIndexOf(tag.tagName);
      if (index < 0) {
        problems.push(`${at(line)}the end tag </${tag.tagName}> has no matching <${tag.tagName}>.`);
        return;
      }
      for (const unclosed of open.splice(index).slice(1).reverse()) {
        problems.push(`${at(unclosed.line)}<${unclosed.name}> is not closed before </${tag.tagName}>${line === undefined ? '' : ` on line ${line}`}.`);
      }
      tokenizer.inForeignNode = open.some((e) => e.name === 'svg' || e.name === 'math');
    },
    onComment(comment) {
      const content = conditionalContent(comment.data);
      if (content !== null) scan(content, problems, { balance: false, lineOffset: (lineOf(comment) ?? 1) - 1 });
    },
    onEof() {
      if (!options.balance) return;
      for (const unclosed of open.splice(0).reverse()) problems.push(`${at(unclosed.line)}<${unclosed.name}> is never closed.`);
    },
    onDoctype: noop,
    onCharacter: noop,
    onNullCharacter: noop,
    onWhitespaceCharacter: noop,
  };
  const tokenizer = new Tokenizer({ sourceCodeLocationInfo: true }, handler);
  tokenizer.write(html, true);
}

/**
 * validate_html: whether an email's HTML is safe and fit to send. Problems (one sentence each):
 *
 * - not well-formed: a parse5 parse error (other than odd characters in the text), or an element
 *   not closed by its own end tag, or an end tag without its start tag;
 * - `<script>` (or iframe, object, embed), an `on…` event-handler attribute, a `javascript:` URL;
 * - an `<img>` without alt text (a 1×1 tracking pixel, `width="1" height="1" alt=""`, is fine),
 *   or whose src is not https (or `cid:`);
 * - an `<a href>` that is not an absolute `https:`, `mailto:` or `tel:` URL;
 * - {@link GMAIL_CLIP_BYTES} bytes (UTF-8) or more: Gmail would clip it.
 *
 * MJML's output, conditional comments included, passes; the HTML inside Outlook conditional
 * comments gets the same safety checks.
 *
 * @example validateHtml('<!doctype html><html><head><title>x</title></head><body><a href="http://x.test">x</a></body></html>')
 * // { valid: false, problems: ['Line 1: the link "http://x.test" is not an absolute https:, mailto: or tel: URL.'] }
 */
export function validateHtml(html: string): HtmlValidation {
  const problems: string[] = [];
  const parseErrors: ParserError[] = [];
  parse(html, { onParseError: (error) => parseErrors.push(error) });
  for (const error of parseErrors) {
    if (!harmlessParseErrors.has(error.code)) problems.push(`Line ${error.startLine}, column ${error.startCol}: the HTML is not well-formed (${error.code}).`);
  }
  scan(html, problems, { balance: true, lineOffset: 0 });
  const bytes = Buffer.byteLength(html, 'utf8');
  if (bytes >= GMAIL_CLIP_BYTES) {
    problems.push(`The HTML is ${bytes.toLocaleString('en-US')} bytes; Gmail clips messages of ${GMAIL_CLIP_BYTES.toLocaleString('en-US')} bytes (102 KB) or more.`);
  }
  return { valid: problems.length === 0, problems };
}
