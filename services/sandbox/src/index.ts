export { startSandbox, type Sandbox, type StartSandboxOptions } from './sandbox';
export { Mailbox, type MailboxOptions, type ListMessagesOptions, type MessagePredicate } from './mailbox';
export type { MailboxMessage, MailboxAttachment, MailboxEnvelope, NewMailboxMessage } from './mailbox-message';
export { MailboxWaitTimeoutError } from './mailbox-wait-timeout-error';
export { startSmtpServer, simulatedRcptReply, type StartSmtpServerOptions, type RunningSmtpServer } from './smtp-server';
export { buildSandboxHttp, type SandboxHttpDependencies, type SandboxHttp, DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT } from './http-api';
export { problem, sendProblem, type ProblemDetails } from './problem-details';
