/** Why an inbound message could not be simulated, with the HTTP status the admin route answers. */
export type InboundErrorCode =
  /** `startSandbox` was given no `webhooks`: there is nowhere to post to (503). */
  | 'SANDBOX_INBOUND_NOT_CONFIGURED'
  /** A button or list reply with no message of the sandbox's that had that button or row (400). */
  | 'SANDBOX_INBOUND_NO_CONTEXT'
  /** The receiver (ingest) could not be reached at all (502). */
  | 'SANDBOX_INBOUND_UNREACHABLE';

const statusOf: Readonly<Record<InboundErrorCode, number>> = {
  SANDBOX_INBOUND_NOT_CONFIGURED: 503,
  SANDBOX_INBOUND_NO_CONTEXT: 400,
  SANDBOX_INBOUND_UNREACHABLE: 502,
};

/**
 * An inbound SMS or WhatsApp message the sandbox could not post; branch on `code`.
 *
 * @example
 * try { await sandbox.inbound.whatsapp({ from, buttonReply: { id: 'v9' } }) }
 * catch (error) { if (error instanceof InboundError && error.code === 'SANDBOX_INBOUND_NO_CONTEXT') … }
 */
export class InboundError extends Error {
  readonly code: InboundErrorCode;
  /** The HTTP status of the admin route's problem answer. */
  readonly status: number;
  constructor(code: InboundErrorCode, message: string) {
    super(message);
    this.name = this.constructor.name;
    this.code = code;
    this.status = statusOf[code];
  }
}
