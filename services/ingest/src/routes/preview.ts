import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  calculateSendTime,
  CommunicationRequestSchema,
  defaultClientPreferences,
  messageChannels,
  MessageChannelSchema,
  planChannels,
} from '@crm/core';
import { getRoutingPreferences } from '@crm/db';
import type { IngestDeps } from '../app';

const PreviewSchema = z.object({
  clientId: z.string(),
  urgency: z.string(),
  /** Why these channels, in this order. */
  reason: z.string(),
  timezone: z.string(),
  channels: z.array(
    z.object({
      channel: MessageChannelSchema,
      /** When a message on this channel would go out (UTC). */
      sendAt: z.string(),
      postponed: z.boolean(),
      reason: z.string(),
    }),
  ),
});

/**
 * `POST /api/crm/communications/preview` (dry run): the same body as a request; answers the
 * channel order the strategy would use, with its reason, and when a message on each channel
 * would go out, in the client's time zone and quiet hours. Stores, enqueues and sends nothing:
 * a `recipient` in the body is used as if it were stored, and is not.
 */
export const previewRoutes: FastifyPluginAsync<IngestDeps> = async (app, deps) => {
  app.withTypeProvider<ZodTypeProvider>().post(
    '/api/crm/communications/preview',
    { schema: { body: CommunicationRequestSchema, response: { 200: PreviewSchema } } },
    async (request) => {
      const body = request.body;
      const stored = await getRoutingPreferences(deps.db, body.clientId);
      const timezone = body.recipient?.timezone ?? stored?.timezone ?? defaultClientPreferences.timezone;
      const plan = planChannels({
        urgency: body.urgency,
        requestedChannel: body.channel,
        preferredChannels: stored?.channels ?? defaultClientPreferences.channels,
        optOuts: stored?.optOuts ?? [],
        hasEmail: body.recipient?.email !== undefined || (stored?.hasEmail ?? false),
        hasPhone: body.recipient?.phone !== undefined || (stored?.hasPhone ?? false),
        deliverable: messageChannels,
      });
      const now = new Date();
      const requestedAt = body.sendAt === null ? null : new Date(body.sendAt);
      return {
        clientId: body.clientId,
        urgency: body.urgency,
        reason: plan.reason,
        timezone,
        channels: plan.channels.map((channel) => {
          const decision = calculateSendTime({ now, requestedAt, timezone, channel, urgency: body.urgency, ...(stored && { quietHours: stored.quietHours ?? undefined }) });
          return { channel, sendAt: decision.sendAt.toISOString(), postponed: decision.postponed, reason: decision.reason };
        }),
      };
    },
  );
};
