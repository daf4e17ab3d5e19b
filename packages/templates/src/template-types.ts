import { digestMessageType, messageTypes, type JsonObject, type StoredMessageType } from '@crm/core';

/** A type that has an email template: every message type, and the digest. */
export type EmailTemplateType = StoredMessageType;

/**
 * The types that have an email template, in the order of `messageTypes`, then `digest`.
 *
 * @example emailTemplateTypes.includes('digest') // true
 */
export const emailTemplateTypes: readonly EmailTemplateType[] = Object.freeze([...messageTypes, digestMessageType]);

/**
 * One email template as written in the repository (packages/templates/email): what the template
 * store publishes as a version.
 */
export interface EmailTemplateSource {
  readonly messageType: EmailTemplateType;
  readonly channel: 'email';
  readonly language: 'en';
  /** Handlebars template of the subject line. */
  readonly subject: string;
  /** The full MJML document: `layout.mjml` with the type's body sections inserted. */
  readonly mjml: string;
  /** Handlebars template of the plain-text alternative: the type's text with the text layout's footer. */
  readonly text: string;
  /** Variables a render must be given (not blank); see {@link MissingTemplateVariablesError}. */
  readonly requiredVariables: string[];
  /** Realistic variables for previews and tests. */
  readonly sampleVariables: JsonObject;
}
