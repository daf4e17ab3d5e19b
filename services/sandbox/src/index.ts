export { startSandbox, type Sandbox, type StartSandboxOptions } from './sandbox';
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
export { registerWhatsAppSimulator, graphError, type SandboxWhatsAppMessage, type WhatsAppSimulatorOptions, type GraphErrorBody } from './whatsapp';
export { applyFault, type SimulatorFault, type FaultSource, type FaultOutcome } from './simulator-faults';
