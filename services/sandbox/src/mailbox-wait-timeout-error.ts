/**
 * {@link Mailbox.waitFor} saw no matching message within its timeout.
 *
 * @example
 * try { await mailbox.waitFor((m) => m.subject === 'Hi', 1_000); }
 * catch (error) { if (error instanceof MailboxWaitTimeoutError) console.log(error.timeoutMs); }
 */
export class MailboxWaitTimeoutError extends Error {
  readonly code = 'SANDBOX_MAILBOX_WAIT_TIMEOUT';
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    super(`no matching message arrived within ${timeoutMs} ms`);
    this.name = this.constructor.name;
    this.timeoutMs = timeoutMs;
  }
}
