export { startSandbox, type Sandbox, type StartSandboxOptions } from './sandbox';
export { sandboxOptionsOf } from './config-options';
export { Mailbox, DEFAULT_MAILBOX_CAPACITY, type MailboxOptions, type ListMessagesOptions, type MessagePredicate } from './mailbox';
export type { MailboxMessage, MailboxMessageSummary, MailboxMessageBody, MailboxAttachment, MailboxEnvelope } from './mailbox-message';
export { MailboxWaitTimeoutError } from './mailbox-wait-timeout-error';
export { startSmtpServer, simulatedRcptReply, faultReplyText, type StartSmtpServerOptions, type RunningSmtpServer } from './smtp-server';
export {
  FaultStore,
  FAULT_CHANNELS,
  NO_FAULT,
  MAX_FAULT_LATENCY_MS,
  faultSettingSchemas,
  isFaultChannel,
  rollFault,
  type FaultChannel,
  type FaultSetting,
  type FaultSettings,
  type FaultListener,
  type FaultStoreOptions,
} from './faults';
export { SmtpStats, type SmtpStatsSnapshot } from './smtp-stats';
export { buildSandboxHttp, type SandboxHttpDependencies, type SandboxHttp, DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT } from './http-api';
export { problem, sendProblem, type ProblemDetails } from './problem-details';
export { SentMessages, type StoredMessageBase, type ListSentMessagesOptions } from './sent-messages';
export { registerTwilioSimulator, registerOutboxRoutes, twilioError, twilioMagicNumbers, type SandboxSms, type TwilioSimulatorOptions, type TwilioErrorBody } from './twilio';
export { registerWhatsAppSimulator, graphError, whatsAppErrorInfo, type SandboxWhatsAppMessage, type WhatsAppSimulatorOptions, type GraphErrorBody } from './whatsapp';
export {
  checkInteractive,
  checkTemplate,
  INTERACTIVE_LIMITS,
  TEMPLATE_NAME,
  TEMPLATE_LANGUAGE,
  type SandboxInteractive,
  type SandboxTemplate,
  type SandboxReplyButton,
  type SandboxListRow,
  type SandboxListSection,
  type ContentResult,
  type ContentErrorCode,
} from './whatsapp-content';
export { CustomerServiceWindow, CUSTOMER_SERVICE_WINDOW_MS, waIdOf, type CustomerServiceWindowOptions, type CustomerServiceWindowState } from './customer-service-window';
export {
  DeliveryOutcomes,
  CALLBACK_CHANNELS,
  DEFAULT_OUTCOMES,
  DEFAULT_FAILURE_CODES,
  deliveryOutcomeSchemas,
  isCallbackChannel,
  statusSequence,
  shouldShuffle,
  shuffled,
  type CallbackChannel,
  type FinalStatus,
  type DeliveryOutcome,
  type DeliveryOutcomeSettings,
} from './delivery-outcomes';
export {
  StatusCallbacks,
  MAX_CALLBACK_DELAY_MS,
  type StatusCallbacksOptions,
  type CallbackStep,
  type CallbackDelivery,
  type MessageCallbacksReport,
  type StatusCallbackCounts,
} from './status-callbacks';
export { postWebhook, DEFAULT_WEBHOOK_RETRY_POLICY, type WebhookRequest, type WebhookRetryPolicy, type WebhookResult, type WebhookAttempt } from './webhook-poster';
export { signedTwilioRequest, twilioStatusParams, twilioInboundParams, planSmsCallbacks, parseTwimlMessages, TWILIO_API_VERSION } from './twilio-webhooks';
export {
  signedMetaRequest,
  whatsAppWebhookPayload,
  whatsAppStatusItem,
  whatsAppInboundPayload,
  planWhatsAppCallbacks,
  unixSeconds,
  type WhatsAppBusiness,
  type WhatsAppWebhookTarget,
  type WhatsAppInboundContent,
} from './whatsapp-webhooks';
export {
  InboundSimulator,
  type InboundSimulatorOptions,
  type SandboxWebhooks,
  type InboundSmsInput,
  type InboundSmsResult,
  type InboundWhatsAppInput,
  type InboundWhatsAppResult,
  type InboundCounts,
} from './inbound';
export { InboundError, type InboundErrorCode } from './inbound-error';
export { registerInboundRoutes } from './inbound-routes';
export { registerCallbackAdmin, type CallbackAdminDependencies } from './admin-callbacks';
export { applyFault, type SimulatorFault, type FaultSource, type FaultOutcome } from './simulator-faults';
