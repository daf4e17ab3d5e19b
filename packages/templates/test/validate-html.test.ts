import { GMAIL_CLIP_BYTES, validateHtml } from '@crm/templates';

/** A well-formed document around `body`, which starts on line 3. */
const doc = (body: string, head = ''): string => `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Hi</title>${head}</head>\n<body>${body}</body></html>`;

const problemsOf = (html: string): string[] => validateHtml(html).problems;

describe('validateHtml', () => {
  it('accepts a well-formed, safe email', () => {
    const html = doc(
      [
        '<div><p>Hello <b>Ada</b> &amp; co</p>',
        '<img src="https://cdn.example.com/logo.png" alt="Event Planner" width="120">',
        '<img src="cid:chart@crm" alt="Budget chart">',
        '<img src="https://crm.example.com/t/o/tok" width="1" height="1" alt="" style="display:block">',
        '<a href="https://example.com/a?b=1&amp;c=2">link</a> <a href="mailto:help@example.com">mail</a> <a href="tel:+15551234567">call</a> <a name="top">anchor</a>',
        '<br><br/><hr></div>',
        '<!--[if mso | IE]><table role="presentation"><tr><td><![endif]--><div>outlook-safe</div><!--[if mso | IE]></td></tr></table><![endif]-->',
      ].join('\n'),
      '<style>td > p { color: red; } /* </div> in CSS is text */</style>',
    );
    expect(validateHtml(html)).toEqual({ valid: true, problems: [] });
  });

  it('does not mind odd characters in the text (a control character in a name)', () => {
    expect(problemsOf(doc('<p>Ada\u0007 Lovelace</p>'))).toEqual([]);
  });

  it.each([
    ['a script element', doc('<p>x</p>\n<script>alert(1)</script>'), /^Line 4: a <script> element is not allowed in an email\.$/],
    ['an iframe', doc('<iframe src="https://example.com"></iframe>'), /<iframe> element is not allowed/],
    ['an onclick attribute', doc('<a href="https://example.com" onclick="steal()">x</a>'), /^Line 3: <a> has the event-handler attribute onclick; event handlers are not allowed\.$/],
    ['an onerror attribute', doc('<img src="https://example.com/x.png" alt="x" ONERROR="alert(1)">'), /event-handler attribute onerror/],
    ['an image without alt', doc('<img src="https://example.com/x.png">'), /^Line 3: the image "https:\/\/example\.com\/x\.png" has no alt text\.$/],
    ['an image with blank alt that is no 1×1 pixel', doc('<img src="https://example.com/x.png" alt=" " width="600">'), /has no alt text/],
    ['a pixel without any alt', doc('<img src="https://example.com/p.gif" width="1" height="1">'), /has no alt text/],
    ['an image over http', doc('<img src="http://example.com/x.png" alt="x">'), /the image "http:\/\/example\.com\/x\.png" does not load over https \(or cid:\)\./],
    ['an image without src', doc('<img alt="x">'), /an image has no src/],
    ['an http link', doc('<a href="http://example.com">x</a>'), /^Line 3: the link "http:\/\/example\.com" is not an absolute https:, mailto: or tel: URL\.$/],
    ['a relative link', doc('<a href="/account">x</a>'), /the link "\/account" is not an absolute/],
    ['an empty link', doc('<a href="">x</a>'), /the link "" is not an absolute/],
    ['a javascript: link', doc('<a href="javascript:alert(1)">x</a>'), /<a href="javascript:alert\(1\)"> uses a javascript: URL\./],
    ['a disguised javascript: link', doc('<a href=" JaVa&#x09;ScRiPt:alert(1)">x</a>'), /uses a javascript: URL/],
    ['a javascript: URL in a style', doc('<div style="background:url(javascript:alert(1))">x</div>'), /<div style=.*uses a javascript: URL/],
    ['a script in an Outlook conditional comment', doc('<!--[if mso]><script>alert(1)</script><![endif]-->'), /a <script> element is not allowed/],
  ])('rejects %s', (_name, html, problem) => {
    const result = validateHtml(html);
    expect(result.valid).toBe(false);
    expect(result.problems).toEqual(expect.arrayContaining([expect.stringMatching(problem)]));
  });

  it('rejects HTML of 102 KB or more, which Gmail clips', () => {
    const frame = doc('<p></p>');
    const under = doc(`<p>${'a'.repeat(GMAIL_CLIP_BYTES - Buffer.byteLength(frame) - 1)}</p>`);
    expect(Buffer.byteLength(under)).toBe(GMAIL_CLIP_BYTES - 1);
    expect(validateHtml(under).valid).toBe(true);
    // Counted in UTF-8 bytes, not characters: "é" is two.
    const over = doc(`<p>${'é'.repeat(Math.ceil((GMAIL_CLIP_BYTES - Buffer.byteLength(frame)) / 2))}</p>`);
    expect(over.length).toBeLessThan(GMAIL_CLIP_BYTES);
    expect(problemsOf(over)).toEqual([`The HTML is ${Buffer.byteLength(over).toLocaleString('en-US')} bytes; Gmail clips messages of 104,448 bytes (102 KB) or more.`]);
  });

  describe('rejects HTML that is not well-formed', () => {
    it.each([
      ['a tag cut off at the end', doc('<p>x</p>') + '<div class="', /Line 3, column \d+: the HTML is not well-formed \(eof-in-tag\)\./],
      ['garbage in a tag', doc('<a href="https://example.com" <b>x</a>'), /not well-formed \(unexpected-character-in-attribute-name\)/],
      ['a duplicate attribute', doc('<a href="https://example.com" href="https://evil.example.com">x</a>'), /not well-formed \(duplicate-attribute\)/],
      ['no doctype', '<html><head><title>x</title></head><body></body></html>', /not well-formed \(missing-doctype\)/],
      ['an end tag without its start tag', doc('<div>x</span></div>'), /^Line 3: the end tag <\/span> has no matching <span>\.$/],
      ['an element left open', doc('<div><p>x</p>'), /^Line 3: <div> is not closed before <\/body> on line 3\.$/],
      ['an element never closed', `${doc('')}<div>`, /^Line 3: <div> is never closed\.$/],
      ['misnested elements', doc('<b><i>x</b></i>'), /^Line 3: <i> is not closed before <\/b> on line 3\.$/],
      ['a self-closed div', doc('<div/>x'), /non-void-html-element-start-tag-with-trailing-solidus/],
    ])('%s', (_name, html, problem) => {
      const result = validateHtml(html);
      expect(result.valid).toBe(false);
      expect(result.problems).toEqual(expect.arrayContaining([expect.stringMatching(problem)]));
    });
  });

  it('reads style, title and textarea content as text, like a browser', () => {
    expect(problemsOf(doc('<textarea><script>not a tag</textarea>', '<style>/* <b> */</style>'))).toEqual([]);
  });

  it('reports every problem, each as a sentence', () => {
    const { valid, problems } = validateHtml(doc('<script>x</script><img src="http://x.example/a.png"><a href="http://x.example" onclick="y()">z</a>'));
    expect(valid).toBe(false);
    expect(problems).toHaveLength(5);
    for (const problem of problems) expect(problem).toMatch(/^(Line \d+(, column \d+)?: |The ).+\.$/);
  });
});
