import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { z } from 'zod';
import { defaultStrategySettings, ExternalIdSchema, type MessageChannel } from '@crm/core';
import { getPreferences } from '@crm/db';
import type { IngestDeps } from '../app';
import { preferencesAnswer, type PreferencesAnswer } from '../routes/preferences';
import {
  DASHBOARD_PATH, fieldError, formErrors, html, invalidAttributes, page, raw, sendPage, type FieldError, type SafeHtml,
} from './html';

/** Where the preferences screen lives. */
export const PREFERENCES_PATH = `${DASHBOARD_PATH}/preferences`;

/** `?clientId=`: the lookup form (left out: the empty form). */
const LookupQuerySchema = z.object({
  clientId: z.string().min(1, { message: 'enter a client id' }).pipe(ExternalIdSchema).optional(),
});
/** `:clientId` of the edit page. */
const EditParamsSchema = z.object({ clientId: ExternalIdSchema });

/** The channels in the order the form shows them when the client lists none, with their names. */
const channelNames: Readonly<Record<MessageChannel, string>> = { email: 'Email', whatsapp: 'WhatsApp', sms: 'SMS' };
const allChannels = Object.keys(channelNames) as MessageChannel[];

/** The time zones the time zone field offers (any IANA zone is accepted; the API checks). */
const timeZones: readonly string[] = ['UTC', ...Intl.supportedValuesOf('timeZone').filter((zone) => zone !== 'UTC')];

/**
 * An email address as the dashboard shows it: its first character and its domain
 * (`ada@example.com` → `a•••@example.com`), so an operator can tell addresses apart without reading them.
 */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@');
  if (at < 1) return '•••';
  return `${email.slice(0, 1)}•••${email.slice(at)}`;
}

/** A phone number as the dashboard shows it: its first two and last four characters (`+14155550123` → `+1•••••0123`). */
export function maskPhone(phone: string): string {
  return phone.length < 8 ? '•••' : `${phone.slice(0, 2)}•••••${phone.slice(-4)}`;
}

/** The lookup form: a client id, sent with GET (also at the top of the edit page, to switch client). */
function lookupForm(value: string, errors: readonly FieldError[]): SafeHtml {
  return html`<form class="filters lookup" method="get" action="${PREFERENCES_PATH}" role="search" aria-label="Client">
<div class="field">
<label for="clientId">Client id</label>
<input id="clientId" name="clientId" type="text" value="${value}" autocomplete="off" spellcheck="false" required${invalidAttributes(errors, 'clientId')}>
${fieldError(errors, 'clientId')}
</div>
<button type="submit">Look up</button>
</form>`;
}

/** `(default)` after a label, hidden when the field holds a value the client stated (the script toggles it). */
const defaultMark = (answer: PreferencesAnswer, field: 'channels' | 'timezone' | 'quietHours'): SafeHtml =>
  html` <span class="default-mark" data-default-mark="${field}"${raw(answer.defaults.includes(field) ? '' : ' hidden')}>(default)</span>`;

/** The checkbox that sends `null` for a field (the configured default); the script unchecks it when the field is edited. */
const useDefault = (answer: PreferencesAnswer, field: 'channels' | 'timezone' | 'quietHours', label: string): SafeHtml =>
  html`<p class="use-default"><input type="checkbox" id="${field}-default" name="${field}Default" data-use-default="${field}"${raw(
    answer.defaults.includes(field) ? ' checked' : '',
  )}> <label for="${field}-default">${label}</label></p>`;

/** The channel order: the client's channels first (included), then the others (left out). */
function channelList(answer: PreferencesAnswer): SafeHtml {
  const order = [...answer.channels, ...allChannels.filter((channel) => !answer.channels.includes(channel))];
  const items = order.map((channel) => {
    const name = channelNames[channel];
    const included = answer.channels.includes(channel);
    return html`<li data-channel="${channel}">
<span class="channel-pick"><input type="checkbox" id="channel-${channel}" name="channels" value="${channel}"${raw(included ? ' checked' : '')}> <label for="channel-${channel}">${name}</label></span>
<span class="moves"><button type="button" class="secondary move" data-move="up">Move<span class="visually-hidden"> ${name}</span> up</button>
<button type="button" class="secondary move" data-move="down">Move<span class="visually-hidden"> ${name}</span> down</button></span>
</li>`;
  });
  return html`<ol class="channel-order" id="channel-order">${items}</ol>`;
}

/** The edit form of one client's preferences, with its contact details masked. */
function editForm(answer: PreferencesAnswer): SafeHtml {
  const quiet = answer.quietHours;
  const optOuts = allChannels.map(
    (channel) => html`<span class="choice"><input type="checkbox" id="optout-${channel}" name="optOuts" value="${channel}"${raw(
      answer.optOuts.includes(channel) ? ' checked' : '',
    )}> <label for="optout-${channel}">${channelNames[channel]}</label></span>`,
  );
  return html`<section class="card preferences" aria-labelledby="client-heading">
<h2 id="client-heading">Client <code>${answer.clientId}</code></h2>
${answer.known ? '' : html`<p class="hint">The engine has stored nothing for this client yet: the form shows what a new client gets, and saving stores it.</p>`}
<noscript><p class="alert error">Saving needs JavaScript: the form is sent to the preferences API as JSON.</p></noscript>
<div id="form-alert" class="alert error" role="alert" hidden></div>
<form id="preferences-form" method="post" action="${DASHBOARD_PATH}/api/crm/preferences" data-client-id="${answer.clientId}" novalidate>
<input type="hidden" name="clientId" value="${answer.clientId}">

<fieldset data-field="channels">
<legend>Channel order${defaultMark(answer, 'channels')}</legend>
<p class="hint" id="channels-hint">The engine tries the first ticked channel first, then the next. Untick a channel to leave it out.</p>
${channelList(answer)}
${useDefault(answer, 'channels', 'Follow the configured default order')}
<p class="visually-hidden" aria-live="polite" id="order-announce"></p>
</fieldset>

<div class="field" data-field="timezone">
<label for="timezone">Time zone${defaultMark(answer, 'timezone')}</label>
<input id="timezone" name="timezone" type="text" list="timezones" value="${answer.timezone}" autocomplete="off" spellcheck="false" aria-describedby="timezone-hint">
<datalist id="timezones">${timeZones.map((zone) => html`<option value="${zone}"></option>`)}</datalist>
<p class="hint" id="timezone-hint">An IANA time zone such as Europe/Berlin: type to search.</p>
${useDefault(answer, 'timezone', 'Follow the configured default zone')}
</div>

<fieldset data-field="quietHours">
<legend>Quiet hours${defaultMark(answer, 'quietHours')}</legend>
<p class="hint">No message is sent between start and end, in the client's time zone (an end before the start crosses midnight).</p>
<div class="times">
<div class="field"><label for="quietHours-start">Start</label><input id="quietHours-start" name="quietHours.start" type="time" value="${quiet?.start ?? ''}"></div>
<div class="field"><label for="quietHours-end">End</label><input id="quietHours-end" name="quietHours.end" type="time" value="${quiet?.end ?? ''}"></div>
</div>
${useDefault(answer, 'quietHours', 'Follow the configured default hours')}
${quiet === null ? html`<p class="hint">The configured default has no quiet hours.</p>` : ''}
</fieldset>

<fieldset data-field="optOuts">
<legend>Opted out of</legend>
<p class="hint">The engine never uses a channel the client opted out of.</p>
<div class="choices">${optOuts}</div>
</fieldset>

<div class="field" data-field="language">
<label for="language">Language</label>
<input id="language" name="language" type="text" value="${answer.language}" autocomplete="off" spellcheck="false" aria-describedby="language-hint">
<p class="hint" id="language-hint">A language tag such as en or pt-BR.</p>
</div>

<div class="field" data-field="batching">
<p class="choice"><input type="checkbox" id="batching" name="batching"${raw(answer.batching ? ' checked' : '')}> <label for="batching">Batching: low-urgency messages may wait for a digest</label></p>
</div>

<div class="actions">
<button type="submit" id="save">Save</button>
<p role="status" id="save-status" class="save-status"></p>
</div>
</form>

<h3 id="contact-heading">Contact details</h3>
<dl class="facts">
<div><dt>Email</dt><dd>${answer.email === null ? html`<span class="muted">none</span>` : maskEmail(answer.email)}</dd></div>
<div><dt>Phone</dt><dd>${answer.phone === null ? html`<span class="muted">none</span>` : maskPhone(answer.phone)}</dd></div>
<div><dt>Email suppressed</dt><dd>${answer.emailSuppressed ? html`<span class="badge bad">yes</span> the address bounced: no email until it changes` : html`<span class="badge ok">no</span>`}</dd></div>
</dl>
<p class="hint">Contact details come from the workflow (the API caller sends them) and are not edited here; the dashboard shows them masked.</p>
</section>`;
}

const preferencesPage = (body: SafeHtml): SafeHtml =>
  page({ screen: 'preferences', title: 'Preferences', body, styles: ['preferences.css'], scripts: ['preferences.js'] });

/** The lookup form alone, with the problem of the id given (status 400), or empty. */
function sendLookup(reply: FastifyReply, value: string, errors: readonly FieldError[]): FastifyReply {
  const intro = html`<p class="hint">Look up a client by the id your workflow uses, to read and change its communication preferences.</p>`;
  return sendPage(reply, preferencesPage(html`${intro}${lookupForm(value, errors)}`), errors.length > 0 ? 400 : 200);
}

/**
 * The preferences screen: `GET /dashboard/preferences` (look a client up by id) and
 * `GET /dashboard/preferences/:clientId` (its preferences, read as the API reads them, in a form
 * that `public/preferences.js` saves through `POST /dashboard/api/crm/preferences`, the API's own
 * route and validation). Email and phone are shown masked and are not editable here.
 */
export const preferencePages: FastifyPluginAsync<IngestDeps> = async (app, deps) => {
  const settings = deps.strategy ?? defaultStrategySettings;

  app.get(PREFERENCES_PATH, async (request, reply) => {
    const query = (request.query ?? {}) as Record<string, unknown>;
    const given = typeof query.clientId === 'string' ? query.clientId : Array.isArray(query.clientId) ? String(query.clientId[0] ?? '') : '';
    const parsed = LookupQuerySchema.safeParse({ clientId: query.clientId === undefined ? undefined : given });
    if (!parsed.success) {
      return sendLookup(reply, given, formErrors(parsed.error.issues).map((e) => ({ ...e, field: 'clientId' })));
    }
    if (parsed.data.clientId === undefined) return sendLookup(reply, '', []);
    return reply.redirect(`${PREFERENCES_PATH}/${encodeURIComponent(parsed.data.clientId)}`, 303);
  });

  app.get<{ Params: { clientId: string } }>(`${PREFERENCES_PATH}/:clientId`, async (request, reply) => {
    const parsed = EditParamsSchema.safeParse(request.params);
    if (!parsed.success) {
      return sendLookup(reply, request.params.clientId, formErrors(parsed.error.issues).map((e) => ({ ...e, field: 'clientId' })));
    }
    const { clientId } = parsed.data;
    const answer = preferencesAnswer(clientId, await getPreferences(deps.db, deps.keys, clientId), settings);
    const body = html`${lookupForm(clientId, [])}${editForm(answer)}`;
    return sendPage(reply, preferencesPage(body));
  });
};
