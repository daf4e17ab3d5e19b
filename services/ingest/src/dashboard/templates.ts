import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { z } from 'zod';
import type { JsonObject, StoredMessageType } from '@crm/core';
import { TemplateStore, type ResolvedTemplate } from '@crm/delivery';
import {
  composeSms, composeWhatsApp, emailTemplateTypes, loadEmailTemplateSources, messageTypeTitle, validateHtml,
  whatsAppApprovedTemplates, whatsAppTemplateMessage,
  type EmailTemplateType, type HtmlValidation, type RenderContext, type SmsText, type WhatsAppApprovedTemplate, type WhatsAppContent,
  type WhatsAppTemplateMessage,
} from '@crm/templates';
import type { IngestDeps } from '../app';
import { DASHBOARD_PATH, count, fieldError, formErrors, html, page, sendPage, type FieldError, type SafeHtml } from './html';

/** Where the templates screen lives. */
const TEMPLATES_PATH = `${DASHBOARD_PATH}/templates`;
/** The screen's own stylesheet (public/templates.css). */
const STYLES = ['templates.css'];
/** What the previews render the footer with, as the API's preview does: nothing a person could click through to. */
const PREVIEW_CONTEXT: RenderContext = {
  unsubscribeUrl: 'https://preview.invalid/u/preview',
  postalAddress: 'Event Planner, 1 Example Street, Springfield, USA',
};
/** The language the approved WhatsApp template is shown in. */
const PREVIEW_LANGUAGE = 'en';

/**
 * The rendered email's own headers: it is framed by the dashboard (so not `DENY`), runs no script,
 * loads no style or font from elsewhere, and shows only inline styles and data: or https images.
 */
const EMAIL_FRAME_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data: https:; frame-ancestors 'self'";

const ParamsSchema = z.strictObject({
  type: z.enum(emailTemplateTypes as unknown as [string, ...string[]], { message: `must be one of ${emailTemplateTypes.join(', ')}` }),
});

/** Everything the screens show of one message type, rendered with its sample data. */
interface Preview {
  readonly type: EmailTemplateType;
  readonly variables: JsonObject;
  readonly email: {
    readonly version: number;
    readonly subject: string;
    readonly html: string;
    readonly text: string;
  };
  readonly sms: SmsText;
  readonly whatsApp: WhatsAppContent;
  readonly approved: WhatsAppTemplateMessage;
  readonly approvedTemplate: WhatsAppApprovedTemplate | undefined;
}

const pathOf = (type: string): string => `${TEMPLATES_PATH}/${encodeURIComponent(type)}`;
const emailPathOf = (type: string): string => `${pathOf(type)}/email.html`;
const kindLabels: Record<WhatsAppContent['kind'], string> = { text: 'text', buttons: 'buttons', list: 'list' };

/**
 * A WhatsApp text as the app shows it: `*bold*` (one line, no inner `*`) in bold without its
 * asterisks, everything else as written (line breaks kept by the stylesheet), escaped.
 */
function whatsAppText(body: string): SafeHtml {
  const parts: SafeHtml[] = [];
  let last = 0;
  for (const match of body.matchAll(/\*([^*\n]+)\*/g)) {
    parts.push(html`${body.slice(last, match.index)}<strong>${match[1]}</strong>`);
    last = match.index + match[0].length;
  }
  parts.push(html`${body.slice(last)}`);
  return html`${parts}`;
}

/** A template name that may wrap after its underscores (`selection_<wbr>needed_<wbr>sms`) in a narrow column. */
const breakable = (name: string): SafeHtml => html`${name.split('_').map((part, i) => (i === 0 ? html`${part}` : html`_<wbr>${part}`))}`;

/** The approved template's body with its `{{n}}` placeholders filled, the values marked. */
function filledTemplate(body: string, values: readonly string[]): SafeHtml {
  const parts: SafeHtml[] = [];
  let last = 0;
  for (const match of body.matchAll(/\{\{(\d+)\}\}/g)) {
    parts.push(html`${body.slice(last, match.index)}<mark>${values[Number(match[1]) - 1] ?? match[0]}</mark>`);
    last = match.index + match[0].length;
  }
  parts.push(html`${body.slice(last)}`);
  return html`${parts}`;
}

// --- pieces of the type page -----------------------------------------------------------------------

function emailSection(preview: Preview, validation: HtmlValidation): SafeHtml {
  const { type, email } = preview;
  const findings = validation.valid
    ? html`<p><span class="badge ok">valid</span> validate_html found no problem.</p>`
    : html`<p><span class="badge bad">${count(validation.problems.length)} problem${validation.problems.length === 1 ? '' : 's'}</span> validate_html found:</p>
<ul class="problems">${validation.problems.map((problem) => html`<li>${problem}</li>`)}</ul>`;
  return html`<section aria-labelledby="email-heading">
<h2 id="email-heading">Email</h2>
<dl class="facts">
<div><dt>Subject</dt><dd class="subject">${email.subject}</dd></div>
<div><dt>Published version</dt><dd>${email.version}</dd></div>
<div><dt>Size</dt><dd>${count(Buffer.byteLength(email.html, 'utf8'))} bytes</dd></div>
</dl>
<h3>HTML part</h3>
<iframe sandbox title="Email preview: ${type}" src="${emailPathOf(type)}" class="email-frame"></iframe>
<p class="hint"><a href="${emailPathOf(type)}">Open the email's HTML on its own</a></p>
<h3>Plain-text part</h3>
<pre class="plain">${email.text}</pre>
<h3>validate_html</h3>
${findings}
</section>`;
}

function smsSection(sms: SmsText): SafeHtml {
  const unitName = sms.encoding === 'GSM-7' ? 'septets' : 'UTF-16 units';
  return html`<section class="card" aria-labelledby="sms-heading">
<h2 id="sms-heading">SMS <span class="muted">${sms.template}</span></h2>
<div class="phone" role="group" aria-label="The SMS as a phone shows it">
<p class="bubble sms-bubble">${sms.body}</p>
</div>
<dl class="facts">
<div><dt>Characters</dt><dd>${count(sms.body.length)}</dd></div>
<div><dt>Units</dt><dd>${count(sms.units)} ${unitName}</dd></div>
<div><dt>Segments</dt><dd>${count(sms.segments)}</dd></div>
<div><dt>Encoding</dt><dd>${sms.encoding}</dd></div>
<div><dt>Optional parts dropped</dt><dd>${sms.dropped.length === 0 ? 'none' : sms.dropped.join(', ')}</dd></div>
</dl>
</section>`;
}

function whatsAppContent(content: WhatsAppContent): SafeHtml {
  const footer = content.kind !== 'text' && content.footer !== undefined ? html`<p class="wa-footer">${content.footer}</p>` : '';
  const bubble = html`<div class="bubble wa-bubble"><p class="wa-text">${whatsAppText(content.body)}</p>${footer}</div>`;
  if (content.kind === 'text') return bubble;
  if (content.kind === 'buttons') {
    return html`${bubble}<ul class="wa-buttons" aria-label="Reply buttons">${content.buttons.map((button) => html`<li>${button.title}</li>`)}</ul>`;
  }
  return html`${bubble}<p class="wa-buttons wa-list-button"><span>${content.buttonLabel}</span></p>
<ul class="wa-rows" aria-label="List rows (${content.buttonLabel})">${content.rows.map(
    (row) => html`<li><span class="wa-row-title">${row.title}</span>${row.description === undefined ? '' : html`<span class="wa-row-description">${row.description}</span>`}</li>`,
  )}</ul>`;
}

function whatsAppSection(preview: Preview): SafeHtml {
  const { whatsApp, approved, approvedTemplate } = preview;
  const parameters = approved.bodyParameters.map(
    (value, index) => html`<tr><th scope="row">{{${index + 1}}}</th><td>${approvedTemplate?.parameters[index] ?? '–'}</td><td>${value}</td></tr>`,
  );
  return html`<section class="card" aria-labelledby="whatsapp-heading">
<h2 id="whatsapp-heading">WhatsApp <span class="muted">${whatsApp.template}</span></h2>
<h3>Inside the 24-hour window <span class="badge">${kindLabels[whatsApp.kind]}</span></h3>
<div class="phone wa" role="group" aria-label="The WhatsApp message as the app shows it">
${whatsAppContent(whatsApp)}
</div>
<h3>Outside the window: approved template</h3>
<dl class="facts">
<div><dt>Name</dt><dd>${approved.name}</dd></div>
<div><dt>Language</dt><dd>${approved.language}</dd></div>
</dl>
${approvedTemplate === undefined ? '' : html`<div class="phone wa" role="group" aria-label="The approved template as the app shows it">
<div class="bubble wa-bubble"><p class="wa-text">${filledTemplate(approvedTemplate.body, approved.bodyParameters)}</p></div>
</div>`}
<div class="table-wrap" role="region" aria-labelledby="parameters-caption" tabindex="0">
<table>
<caption id="parameters-caption">Parameters of ${approved.name}</caption>
<thead><tr><th scope="col">Placeholder</th><th scope="col">Holds</th><th scope="col">Value</th></tr></thead>
<tbody>${parameters}</tbody>
</table>
</div>
</section>`;
}

function typeLinks(current?: string): SafeHtml {
  return html`<nav aria-label="Message types"><ul class="links">${emailTemplateTypes.map((type) =>
    type === current ? html`<li><a href="${pathOf(type)}" aria-current="page">${type}</a></li>` : html`<li><a href="${pathOf(type)}">${type}</a></li>`,
  )}</ul></nav>`;
}

/** The page of one message type: its email, SMS and WhatsApp texts for its sample data. */
function typePage(preview: Preview): SafeHtml {
  const validation = validateHtml(preview.email.html);
  return page({
    screen: 'templates',
    title: `Template: ${preview.type}`,
    styles: STYLES,
    body: html`<p class="muted">${messageTypeTitle(preview.type)} · every channel's text of this message type, rendered with its sample data. <a href="${TEMPLATES_PATH}">All templates</a></p>
${typeLinks(preview.type)}
${emailSection(preview, validation)}
<div class="grid-2 texts">
${smsSection(preview.sms)}
${whatsAppSection(preview)}
</div>
<details class="variables">
<summary>Sample variables</summary>
<pre>${JSON.stringify(preview.variables, null, 2)}</pre>
</details>`,
  });
}

/** The index: one row per message type. */
function indexPage(previews: readonly Preview[]): SafeHtml {
  const rows = previews.map(
    (p) => html`<tr>
<th scope="row"><a href="${pathOf(p.type)}">${p.type}</a></th>
<td class="subject">${p.email.subject}</td>
<td class="num">${p.email.version}</td>
<td>${breakable(p.sms.template)}</td>
<td class="num">${p.sms.segments}</td>
<td>${p.sms.encoding}</td>
<td>${breakable(p.whatsApp.template)}</td>
<td>${kindLabels[p.whatsApp.kind]}</td>
</tr>`,
  );
  return page({
    screen: 'templates',
    title: 'Templates',
    styles: STYLES,
    body: html`<p class="muted">Every message type's email, SMS and WhatsApp template, rendered with its sample data. Open a type to see the messages themselves.</p>
<div class="table-wrap" role="region" aria-labelledby="templates-caption" tabindex="0">
<table class="templates">
<caption id="templates-caption">Templates by message type</caption>
<thead><tr>
<th scope="col">Message type</th><th scope="col">Email subject</th><th scope="col" class="num">Version</th>
<th scope="col">SMS template</th><th scope="col" class="num">Segments</th><th scope="col">Encoding</th>
<th scope="col">WhatsApp template</th><th scope="col">Content</th>
</tr></thead>
<tbody>${rows}</tbody>
</table>
</div>`,
  });
}

/** A bad `:type`: the problem next to the field it is about, and the types there are. */
function badTypePage(errors: readonly FieldError[]): SafeHtml {
  return page({
    screen: 'templates',
    title: 'Templates',
    styles: STYLES,
    body: html`<div class="alert error" role="alert">There is no template of that message type.</div>
<p><strong>Message type</strong> (type):</p>
${fieldError(errors, 'type')}
<p>Choose one of the message types:</p>
${typeLinks()}`,
  });
}

/**
 * The Templates screen of the dashboard, for the operator:
 *
 * - `GET /dashboard/templates`: every message type (the email template types, digest included)
 *   with its email subject and published version, its SMS template (segments, encoding) and its
 *   WhatsApp template (text, buttons or list), each linking to its page;
 * - `GET /dashboard/templates/:type`: the type rendered with its sample data: the email (subject,
 *   the HTML in a sandboxed frame, the plain text, validate_html's findings), the SMS in a
 *   phone-like box with its units, segments, encoding and dropped parts, the WhatsApp message
 *   inside the 24-hour window and the approved template outside it, and the sample variables;
 * - `GET /dashboard/templates/:type/email.html`: the rendered HTML itself, for that frame.
 *
 * A bad type answers 400 with a page naming the types there are. Emails render through the same
 * template store as the API's preview (seeding it if nothing was published yet).
 */
export const templatePages: FastifyPluginAsync<IngestDeps> = async (app, deps) => {
  const store = deps.templates ?? new TemplateStore({ db: deps.db, logger: deps.logger });
  const samples = new Map(loadEmailTemplateSources().map((source) => [source.messageType, source.sampleVariables]));
  let seeding: Promise<unknown> | undefined;

  /** The current version of a type's email template; seeds the store first if none was published yet. */
  async function resolve(type: StoredMessageType): Promise<ResolvedTemplate> {
    try {
      return await store.get(type);
    } catch {
      seeding ??= store.seed().finally(() => {
        seeding = undefined;
      });
      await seeding;
      return store.get(type);
    }
  }

  async function preview(type: EmailTemplateType): Promise<Preview> {
    const variables = samples.get(type) ?? {};
    const resolved = await resolve(type);
    const rendered = resolved.compiled.render(variables, PREVIEW_CONTEXT);
    const approved = whatsAppTemplateMessage(type, variables, PREVIEW_LANGUAGE);
    return {
      type,
      variables,
      email: { version: resolved.version.version, subject: rendered.subject, html: rendered.html, text: rendered.text },
      sms: composeSms(type, variables),
      whatsApp: composeWhatsApp(type, variables),
      approved,
      approvedTemplate: whatsAppApprovedTemplates[approved.name],
    };
  }

  /** The type of the request's params, or the 400 page already sent. */
  function typeOf(params: unknown, reply: FastifyReply): EmailTemplateType | null {
    const parsed = ParamsSchema.safeParse(params);
    if (parsed.success) return parsed.data.type as EmailTemplateType;
    void sendPage(reply, badTypePage(formErrors(parsed.error.issues)), 400);
    return null;
  }

  app.get(TEMPLATES_PATH, async (_request, reply) => {
    const previews: Preview[] = [];
    // One after another: the first may seed the store for all.
    for (const type of emailTemplateTypes) previews.push(await preview(type));
    return sendPage(reply, indexPage(previews));
  });

  app.get(`${TEMPLATES_PATH}/:type`, async (request, reply) => {
    const type = typeOf(request.params, reply);
    if (type === null) return reply;
    return sendPage(reply, typePage(await preview(type)));
  });

  app.get(`${TEMPLATES_PATH}/:type/email.html`, async (request, reply) => {
    const type = typeOf(request.params, reply);
    if (type === null) return reply;
    const resolved = await resolve(type);
    const rendered = resolved.compiled.render(samples.get(type) ?? {}, PREVIEW_CONTEXT);
    return reply
      .type('text/html; charset=utf-8')
      .header('content-security-policy', EMAIL_FRAME_CSP)
      .header('x-frame-options', 'SAMEORIGIN')
      .header('cache-control', 'no-store')
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .send(rendered.html);
  });
};
