import DataLoader from 'dataloader';
import type { Kysely } from 'kysely';
import { claimAttempt, claimAttempts, moveCommunication, recordSentMany, type ClaimInput, type ClaimResult, type Database, type PiiKeys, type SentRecord } from '@crm/db';

/**
 * The two writes every attempt makes on the way to `sent`: its claim and its success. Either one
 * statement per job ({@link singleRowWrites}) or coalesced: concurrent jobs of one worker share
 * one multi-row statement per short window ({@link batchedWrites}). Failures, retries and
 * fallbacks are rare and always use the single-row path.
 */
export interface DeliveryWrites {
  claim(input: ClaimInput): Promise<ClaimResult>;
  /** Whether the row moved `sending → sent` (false: it had moved on meanwhile). */
  recordSent(record: SentRecord): Promise<boolean>;
}

export function singleRowWrites(db: Kysely<Database>, keys: PiiKeys): DeliveryWrites {
  return {
    claim: (input) => claimAttempt(db, keys, input),
    async recordSent(record) {
      const moved = await moveCommunication(db, {
        id: record.id,
        guard: { statuses: ['sending'], attempt: record.attempt, channel: record.channel },
        to: 'sent',
        event: 'attempt_succeeded',
        attempt: record.attempt,
        provider: record.provider,
        providerMessageId: record.providerMessageId,
        latencyMs: record.latencyMs,
        nextAttemptAt: null,
        detail: record.detail,
        ...(record.template && { template: record.template }),
      });
      return moved.applied;
    },
  };
}

export interface BatchOptions {
  /** How long a batch waits for more jobs after its first, in ms. @defaultValue 2 */
  readonly windowMs?: number;
  /** Largest batch. @defaultValue 100 */
  readonly maxBatchSize?: number;
}

/**
 * Writes coalesced across the jobs a worker runs at once: the first call opens a window of
 * `windowMs`; every call in it goes into one statement (rows locked in id order). Under load this
 * turns N statements and N commits into one; alone, a job waits at most `windowMs` longer.
 */
export function batchedWrites(db: Kysely<Database>, keys: PiiKeys, options: BatchOptions = {}): DeliveryWrites {
  const { windowMs = 2, maxBatchSize = 100 } = options;
  const schedule = (callback: () => void) => void setTimeout(callback, windowMs);
  const claims = new DataLoader<ClaimInput, ClaimResult>((inputs) => claimAttempts(db, keys, inputs), { cache: false, maxBatchSize, batchScheduleFn: schedule });
  const sent = new DataLoader<SentRecord, boolean>((records) => recordSentMany(db, records), { cache: false, maxBatchSize, batchScheduleFn: schedule });
  return {
    claim: (input) => claims.load(input),
    recordSent: (record) => sent.load(record),
  };
}
