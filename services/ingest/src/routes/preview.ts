import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  CommunicationRequestSchema,
  defaultStrategySettings,
  determineStrategy,
  messageChannels,
  MessageChannelSchema,
  planSendTime,
  resolveRouting,
  shouldBatch,
} from '@crm/core';
import { getRoutingPreferences, recentOnChannel } from '@crm/db';
import type { IngestDeps } from '../app';

const PreviewSchema = z.object({
  clientId: z.string(),
  urgency: z.string(),
  /** Why these channels, in this order. */
  reason: z.string(),
  timezone: z.string(),
  /** `critical`: a copy also goes by email at once. */
  alsoEmail: z.boolean(),
  /** Whether the message would wait for the client's digest, and why (not). */
  digest: z.object({ batch: z.boolean(), reason: z.string() }),
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
 * `POST /api/crm/communications/preview` (dry run): the same body as a request; answers what the
 * strategy would decide: the channel order with its reason, whether it would wait for a digest,
 * and when a message on each channel would go out (time zone, quiet hours, the channel's window
 * and frequency cap). Reads; stores, enqueues and sends nothing: a `recipient` in the body is
 * used as if it were stored, and is not.
 */
export const previewRoutes: FastifyPluginAsync<IngestDeps> = async (app, deps) => {
  const settings = deps.strategy ?? defaultStrategySettings;
  app.withTypeProvider<ZodTypeProvider>().post(
    '/api/crm/communications/preview',
    {
      schema: {
        summary: 'Dry run: which channels, in which order, and when',
        description:
          'The body of a request; answers what the strategy would decide (channel order and why, digest or not, the send time of ' +
          'each channel in the client\'s time zone and quiet hours). Stores, queues and sends nothing; a `recipient` is used as if stored, and is not.',
        body: CommunicationRequestSchema,
        response: { 200: PreviewSchema },
      },
    },
    async (request) => {
      const body = request.body;
      const stored = resolveRouting(await getRoutingPreferences(deps.db, body.clientId), settings.defaults);
      const routing = {
        ...stored,
        timezone: body.recipient?.timezone ?? stored.timezone,
        hasEmail: body.recipient?.email !== undefined || stored.hasEmail,
        hasPhone: body.recipient?.phone !== undefined || stored.hasPhone,
      };
      const requestedAt = body.sendAt === null ? null : new Date(body.sendAt);
      const decision = determineStrategy({
        ...routing, urgency: body.urgency, messageType: body.messageType, requestedChannel: body.channel, hasAttachment: body.attachments.length > 0, deliverable: messageChannels,
      });
      const digest = shouldBatch(
        { urgency: body.urgency, messageType: body.messageType, requestedChannel: body.channel, requestedAt, hasAttachment: body.attachments.length > 0, clientAllowsBatching: routing.batching },
        settings.digest,
      );
      const now = new Date();
      const channels = await Promise.all(decision.channels.map(async (channel) => {
        const cap = settings.timing.frequencyCaps[channel];
        const recent = cap
          ? await recentOnChannel(deps.db, { clientId: body.clientId, channel, since: new Date(now.getTime() - cap.windowMs), now, exceptId: '00000000-0000-0000-0000-000000000000' })
          : [];
        const time = planSendTime({
          now, timezone: routing.timezone, requestedAt, channel, urgency: body.urgency, quietHours: routing.quietHours, recentOnChannel: recent, policy: settings.timing,
        });
        return { channel, sendAt: time.sendAt.toISOString(), postponed: time.postponed, reason: time.reason };
      }));
      return { clientId: body.clientId, urgency: body.urgency, reason: decision.reason, timezone: routing.timezone, alsoEmail: decision.alsoEmail, digest, channels };
    },
  );
};
