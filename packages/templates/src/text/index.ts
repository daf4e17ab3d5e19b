export { ConciseTextGenerator, slot, OPTIONAL_PRIORITY, NAME_PRIORITY, REQUIRED_PRIORITY, type ConciseText, type ConciseTextInput, type ConciseTextOptions, type NameSlot, type ShortenableName, type TextPart, type TextPiece, type TextVariant } from './concise-text-generator';
export { optionReplyId, optionNumberOfReplyId } from './option-reply-id';
export { composeSms, composeWhatsApp, textTemplateName, textTemplateNames } from './text-registry';
export { whatsAppApprovedTemplates, whatsAppTemplateMessage, whatsAppTemplateName, templateLanguage, templateParameter } from './whatsapp-approved-templates';
export { digestSms, digestWhatsApp, type DigestSms } from './digest-text';
export { whatsAppLimits, type SmsText, type TextChannel, type WhatsAppApprovedTemplate, type WhatsAppButton, type WhatsAppContent, type WhatsAppListRow, type WhatsAppTemplateMessage } from './text-types';
export { clampText, gsmPunctuation, moneyText, personNameForms, shortenAtWord, ELLIPSIS } from './text-values';
