/**
 * What the SMS and WhatsApp texts of a message are, as the messaging worker sends them, and the
 * limits Meta sets on WhatsApp's interactive messages.
 */

/** An SMS, composed to fit one segment where it can. */
export interface SmsText {
  /** The text template it was written with, e.g. `selection_needed_sms`. */
  readonly template: string;
  readonly body: string;
  readonly encoding: 'GSM-7' | 'UCS-2';
  /** Segments it is sent in; more than 1 only when even its shortest form does not fit one. */
  readonly segments: number;
  /** Septets (GSM-7) or UTF-16 code units (UCS-2). */
  readonly units: number;
  /** Ids of the optional parts left out to fit one segment (never personal data). */
  readonly dropped: readonly string[];
}

/** A reply button of an interactive WhatsApp message. Meta: at most 3, title ≤ 20, id ≤ 256. */
export interface WhatsAppButton {
  readonly id: string;
  readonly title: string;
}

/** A row of an interactive WhatsApp list. Meta: at most 10 rows, title ≤ 24, description ≤ 72. */
export interface WhatsAppListRow {
  readonly id: string;
  readonly title: string;
  readonly description?: string;
}

/** A free-form WhatsApp message (inside the 24-hour customer-service window). */
export type WhatsAppContent =
  /** Body ≤ 4096. */
  | { readonly kind: 'text'; readonly template: string; readonly body: string }
  /** Body ≤ 1024, footer ≤ 60, 1–3 buttons. */
  | { readonly kind: 'buttons'; readonly template: string; readonly body: string; readonly footer?: string; readonly buttons: readonly WhatsAppButton[] }
  /** Body ≤ 1024, footer ≤ 60, buttonLabel ≤ 20, 1–10 rows. */
  | { readonly kind: 'list'; readonly template: string; readonly body: string; readonly footer?: string; readonly buttonLabel: string; readonly rows: readonly WhatsAppListRow[] };

/** The approved WhatsApp template sent outside the 24-hour customer-service window. */
export interface WhatsAppTemplateMessage {
  /** `crm_<message_type>`, e.g. `crm_vendor_options`. */
  readonly name: string;
  /** The template's language code, e.g. `en` or `en_US`. */
  readonly language: string;
  /** The `{{1}}…{{n}}` values, in order: one line each, no tabs, ≤ 4 spaces in a row, ≤ 1024 characters. */
  readonly bodyParameters: readonly string[];
}

/** An approved template's text, for the docs and the sandbox. */
export interface WhatsAppApprovedTemplate {
  /** The language the body is written in. */
  readonly language: string;
  /** The body with `{{1}}…{{n}}` placeholders. */
  readonly body: string;
  /** What each placeholder holds, in order (`parameters[0]` is `{{1}}`). */
  readonly parameters: readonly string[];
}

/**
 * Meta's limits on WhatsApp messages (Cloud API reference, "Messages": text, interactive reply
 * buttons and list messages, template parameters), in characters; we count UTF-16 code units,
 * which is never fewer.
 *
 * @example whatsAppLimits.buttonTitle // 20
 */
export const whatsAppLimits = Object.freeze({
  textBody: 4096,
  interactiveBody: 1024,
  footer: 60,
  buttons: 3,
  buttonTitle: 20,
  buttonId: 256,
  listRows: 10,
  listButtonLabel: 20,
  rowTitle: 24,
  rowDescription: 72,
  rowId: 200,
  templateParameter: 1024,
});

/** The SMS and WhatsApp channels, the ones with text templates. */
export type TextChannel = 'sms' | 'whatsapp';
