export { emailTemplateTypes, type EmailTemplateSource, type EmailTemplateType } from './template-types';
export { loadEmailTemplateSources, defaultTemplateDir, MJML_BODY_MARKER, TEXT_BODY_MARKER } from './load-sources';
export { compileMjml } from './compile-mjml';
export { bindEmailTemplate, type CompiledEmailTemplate, type RenderContext, type RenderedEmail } from './bind-template';
export { MissingTemplateVariablesError } from './missing-variables-error';
export { formatMoney, messageTypeTitle, variableLines } from './helpers';
export { validateHtml, GMAIL_CLIP_BYTES, type HtmlValidation } from './validate-html';
export * from './text';
