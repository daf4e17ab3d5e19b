import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

// The documentation's links (issue 13): every relative link and image in README.md and docs/*.md
// points to a file or directory that exists, every `#anchor` to a heading (or an explicit
// `<a id>`) of the file it names, every `npm run <script>` the docs name is a script of the root
// package.json, and every runbook_url of the Prometheus alerts points to a heading of the
// troubleshooting page. The list of files is read when the test runs, so new pages are checked
// as soon as they exist. Anchors follow GitHub's rules: the heading's text (formatting and link
// targets dropped), lower-cased, every character that is not a letter, digit, space, `-` or `_`
// dropped, each space a `-`; a repeated heading gets `-1`, `-2`, ….

const root = join(__dirname, '..', '..');
const docsDir = join(root, 'docs');

/** README.md and every markdown file directly in docs/, as paths from the root. */
const markdownFiles = ['README.md', ...readdirSync(docsDir).filter((name) => name.endsWith('.md')).sort().map((name) => `docs/${name}`)];

/** A fenced code block (``` or ~~~) or an inline code span: links inside are text, not links. */
const FENCE = /^ {0,3}(`{3,}|~{3,})/;

/** The lines of a markdown file outside fenced code blocks, with their 1-based numbers. */
function proseLines(text: string): { line: number; text: string }[] {
  const lines: { line: number; text: string }[] = [];
  let fence: string | null = null;
  text.split('\n').forEach((content, index) => {
    const match = FENCE.exec(content);
    if (match) {
      const marker = match[1]!;
      if (fence === null) fence = marker;
      else if (marker[0] === fence[0] && marker.length >= fence.length) fence = null;
      return;
    }
    if (fence === null) lines.push({ line: index + 1, text: content });
  });
  return lines;
}

/** `text` without its inline code spans (`` `…` `` and ``` ``…`` ```). */
const withoutCode = (text: string): string => text.replace(/(`+)(?:(?!\1)[\s\S])*?\1/g, '');

/**
 * GitHub's anchor of a heading's text: inline code keeps its content, links keep their text,
 * images and HTML tags go, then lower case, punctuation dropped and spaces turned into `-`.
 *
 * @example githubSlug('`POST /api/crm/communications`') // 'post-apicrmcommunications'
 * @example githubSlug('Provider auth failure') // 'provider-auth-failure'
 */
function githubSlug(heading: string): string {
  return heading
    .replace(/!\[[^\]]*\]\([^)]*\)/g, '')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M} _-]/gu, '')
    .replace(/ /g, '-');
}

const anchorCache = new Map<string, Set<string>>();

/** Every anchor a markdown file offers: its headings' slugs (numbered when repeated) and `<a id|name>`. */
function anchorsOf(file: string): Set<string> {
  const cached = anchorCache.get(file);
  if (cached) return cached;
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const text = readFileSync(file, 'utf8');
  for (const { text: line } of proseLines(text)) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading) {
      const slug = githubSlug(heading[1]!);
      const count = seen.get(slug) ?? 0;
      seen.set(slug, count + 1);
      anchors.add(count === 0 ? slug : `${slug}-${count}`);
    }
    for (const match of line.matchAll(/<a\s[^>]*\b(?:id|name)\s*=\s*"([^"]+)"/gi)) anchors.add(match[1]!);
  }
  anchorCache.set(file, anchors);
  return anchors;
}

interface Link {
  readonly file: string;
  readonly line: number;
  readonly target: string;
}

/** Every link target of a markdown file: `[text](target)`, `![alt](target)`, `[id]: target`, and HTML `href`/`src`. */
function linksOf(file: string): Link[] {
  const links: Link[] = [];
  for (const { line, text } of proseLines(readFileSync(join(root, file), 'utf8'))) {
    const prose = withoutCode(text);
    const add = (target: string) => links.push({ file, line, target: target.trim() });
    // Images, then links (an image inside a link's text counts as text); a target may be in <…> and carry a "title".
    const inline = /(!?)\[([^\]]*)\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+"[^"]*")?\s*\)/g;
    for (const match of prose.matchAll(inline)) if (match[1] === '!') add(match[3]!.replace(/^<|>$/g, ''));
    const imagesAsText = prose.replace(inline, (whole, bang: string) => (bang === '!' ? 'image' : whole));
    for (const match of imagesAsText.matchAll(inline)) add(match[3]!.replace(/^<|>$/g, ''));
    const definition = /^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)/.exec(prose);
    if (definition) add(definition[1]!.replace(/^<|>$/g, ''));
    for (const match of prose.matchAll(/<(?:a|img)\s[^>]*\b(?:href|src)\s*=\s*"([^"]+)"/gi)) add(match[1]!);
  }
  return links;
}

/** Why a link is broken, or `null` when it points somewhere that exists. */
function problemOf(link: Link): string | null {
  const { target } = link;
  // Absolute URLs (https:, mailto:, …) are not checked here.
  if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) return null;
  const hashAt = target.indexOf('#');
  const path = decodeURIComponent(hashAt === -1 ? target : target.slice(0, hashAt));
  const anchor = hashAt === -1 ? null : decodeURIComponent(target.slice(hashAt + 1));
  const from = join(root, link.file);
  const resolved = path === '' ? from : resolve(dirname(from), path.split('?')[0]!);
  if (!resolved.startsWith(root)) return `${path} leaves the repository`;
  if (!existsSync(resolved)) return `${relative(root, resolved)} does not exist`;
  if (anchor === null || anchor === '') return null;
  if (statSync(resolved).isDirectory() || !resolved.endsWith('.md')) return `#${anchor}: anchors are only checked in markdown files`;
  return anchorsOf(resolved).has(anchor) ? null : `#${anchor} is not a heading of ${relative(root, resolved)}`;
}

describe('documentation links', () => {
  it('finds the pages it checks', () => {
    expect(markdownFiles).toContain('README.md');
    expect(markdownFiles.length).toBeGreaterThan(5);
  });

  it('computes anchors as GitHub does', () => {
    expect(githubSlug('Provider auth failure')).toBe('provider-auth-failure');
    expect(githubSlug('`POST /api/crm/communications`')).toBe('post-apicrmcommunications');
    expect(githubSlug('SMS and WhatsApp: the 24-hour window')).toBe('sms-and-whatsapp-the-24-hour-window');
    expect(githubSlug('Late failures fall back')).toBe('late-failures-fall-back');
    expect(githubSlug('Rotating the encryption key')).toBe('rotating-the-encryption-key');
    expect(githubSlug('Webhooks answer 403 ([webhooks.md](webhooks.md))')).toBe('webhooks-answer-403-webhooksmd');
    expect(githubSlug('Twilio & SMS_RECIPIENT_RATE_LIMIT')).toBe('twilio--sms_recipient_rate_limit');
  });

  it('reads links, images and anchors, and sees a broken one', () => {
    const targets = linksOf('README.md').map((link) => link.target);
    expect(targets).toEqual(expect.arrayContaining(['docs/api.md', 'docs/security.md#rotating-the-encryption-key', 'docs/images/dashboard/login-1280.png']));
    // Inside code, a link is text.
    expect(targets.some((target) => target.includes('127.0.0.1'))).toBe(false);
    expect(problemOf({ file: 'README.md', line: 1, target: 'docs/no-such-page.md' })).toBe('docs/no-such-page.md does not exist');
    expect(problemOf({ file: 'README.md', line: 1, target: 'docs/webhooks.md#no-such-heading' })).toBe('#no-such-heading is not a heading of docs/webhooks.md');
    expect(problemOf({ file: 'docs/webhooks.md', line: 1, target: '#late-failures-fall-back' })).toBeNull();
  });

  it.each(markdownFiles)('every relative link and anchor of %s exists', (file) => {
    const broken = linksOf(file)
      .map((link) => ({ link, problem: problemOf(link) }))
      .filter((entry) => entry.problem !== null)
      .map(({ link, problem }) => `${link.file}:${link.line} ${link.target}: ${problem}`);
    expect(broken).toEqual([]);
  });

  it('every `npm run <script>` in the docs is a script of the root package.json', () => {
    const { scripts } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    const missing: string[] = [];
    for (const file of markdownFiles) {
      const text = readFileSync(join(root, file), 'utf8');
      for (const match of text.matchAll(/\bnpm (?:run(?:-script)?|start|test)\b(?: +([a-z0-9:_.-]+))?/g)) {
        const word = match[0].split(/\s+/)[1]!;
        // `npm run <name>` (a placeholder) names no script.
        const name = word === 'start' || word === 'test' ? word : match[1];
        if (name !== undefined && !(name in scripts)) missing.push(`${file}: ${match[0]}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('every runbook_url of the Prometheus alerts points to a heading', () => {
    const alerts = readFileSync(join(root, 'infra', 'prometheus', 'alerts.yml'), 'utf8');
    const runbooks = [...alerts.matchAll(/runbook_url:\s*"?([^"\s]+)"?/g)].map((match) => match[1]!);
    expect(runbooks.length).toBeGreaterThan(0);
    const broken = runbooks
      .map((target) => ({ target, problem: problemOf({ file: 'alerts.yml', line: 0, target }) }))
      .filter((entry) => entry.problem !== null)
      .map(({ target, problem }) => `${target}: ${problem}`);
    expect(broken).toEqual([]);
  });
});
