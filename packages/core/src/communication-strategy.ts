import { z } from 'zod';
import { MessageChannelSchema } from './enums';

/** The strategy's decision for one communication, with the reason recorded for its history. */
export const CommunicationStrategySchema = z.strictObject({
  /** Channels to try, in order; the first is sent on now, the rest are fallbacks. */
  channels: MessageChannelSchema.array().min(1),
  /** When to send (UTC); equal to or after the moment the decision was made. */
  sendAt: z.date(),
  /** Whether the message waits to be merged into a digest. */
  batch: z.boolean(),
  /** Why these channels and this time, in words, e.g. `preferences: email first`. */
  reason: z.string().min(1),
});
export type CommunicationStrategy = z.infer<typeof CommunicationStrategySchema>;
