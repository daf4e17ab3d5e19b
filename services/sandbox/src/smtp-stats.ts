/** What `GET /smtp/stats` answers. */
export interface SmtpStatsSnapshot {
  /** Messages stored in the mailbox (answered `250`), evicted ones included. */
  readonly received: number;
  /** Refusals by the fault knobs (an `errorCode` reply) or the `bounce*@`/`defer*@` simulator (one per refused recipient). */
  readonly refused: number;
  /** Messages lost because the client hung up (or an outage ended its session) while the server held back its reply (`latencyMs`). */
  readonly dropped: number;
}

/**
 * Counters of the sandbox SMTP server, for exactly-once checks (a crashed sender's message
 * is either `received` once or `dropped`). Reset with `DELETE /smtp/messages`.
 *
 * @example
 * const stats = new SmtpStats();
 * stats.received++;
 * stats.snapshot(); // { received: 1, refused: 0, dropped: 0 }
 */
export class SmtpStats {
  received = 0;
  refused = 0;
  dropped = 0;

  snapshot(): SmtpStatsSnapshot {
    return { received: this.received, refused: this.refused, dropped: this.dropped };
  }

  reset(): void {
    this.received = 0;
    this.refused = 0;
    this.dropped = 0;
  }
}
