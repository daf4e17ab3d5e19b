import { z } from 'zod';
import { CommunicationStatusSchema } from './communication-status';
import { ErrorCategorySchema, MessageChannelSchema } from './enums';

/** The outcome of one delivery attempt, as a channel worker reports it. */
export const CommunicationResultSchema = z.strictObject({
  communicationId: z.uuid(),
  status: CommunicationStatusSchema,
  channel: MessageChannelSchema,
  attempt: z.number().int().positive(),
  providerMessageId: z.string().nullable(),
  error: z
    .strictObject({
      code: z.string().nullable(),
      category: ErrorCategorySchema,
      message: z.string(),
    })
    .nullable(),
  latencyMs: z.number().nonnegative(),
});
export type CommunicationResult = z.infer<typeof CommunicationResultSchema>;
