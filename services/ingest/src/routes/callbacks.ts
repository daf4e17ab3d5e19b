import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { StorableStringSchema } from '@crm/core';
import {
  CALLBACK_URL_MAX_LENGTH,
  callbackEventTypes,
  callbackUrlProblem,
  createCallbackSubscription,
  deleteCallbackSubscription,
  listCallbackSubscriptions,
  type CallbackSubscription,
  type CallbackUrlPolicy,
} from '@crm/db';
import type { IngestDeps } from '../app';
import { ProblemError } from '../problem';

/** A generated signing secret: `whsec_` + 32 random bytes, base64url. */
export const generateCallbackSecret = (): string => `whsec_${randomBytes(32).toString('base64url')}`;

/** The event types a subscription can ask for. */
export const CallbackEventTypeSchema = z.enum(callbackEventTypes, { message: `must be one of ${callbackEventTypes.join(', ')}` });

/** The body of `POST /api/crm/callbacks`; the URL is checked against `policy` (https in production). */
export const newCallbackSubscriptionSchema = (policy: CallbackUrlPolicy) =>
  z.strictObject({
    url: StorableStringSchema.max(CALLBACK_URL_MAX_LENGTH, { message: `must be at most ${CALLBACK_URL_MAX_LENGTH} characters long` }).superRefine((url, ctx) => {
      const problem = callbackUrlProblem(url, policy);
      if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
    }),
    events: z.array(CallbackEventTypeSchema).min(1, { message: 'must name at least one event type' }).max(callbackEventTypes.length * 2),
    /** A secret of the caller's own; generated when absent. */
    secret: z
      .string()
      .min(16, { message: 'must be at least 16 characters long' })
      .max(256, { message: 'must be at most 256 characters long' })
      .regex(/^[\x21-\x7e]+$/, { message: 'must be printable ASCII without spaces' })
      .optional(),
  });

/** A subscription as listed (never with its secret). */
export const CallbackSubscriptionSchema = z.object({
  id: z.string(),
  url: z.string(),
  events: z.array(CallbackEventTypeSchema),
  createdAt: z.string(),
});

/** The answer of `POST /api/crm/callbacks`: the subscription and its secret, shown this once. */
export const CreatedCallbackSubscriptionSchema = CallbackSubscriptionSchema.extend({ secret: z.string() });

const CallbackParamsSchema = z.strictObject({ id: z.guid({ message: 'must be a subscription id (a UUID)' }) });

const representation = (sub: CallbackSubscription) => ({ id: sub.id, url: sub.url, events: [...sub.events], createdAt: sub.createdAt.toISOString() });

/**
 * Event callback subscriptions (see docs/callbacks.md):
 *
 * - `POST /api/crm/callbacks` `{ url, events, secret? }` → 201 with the secret (generated when
 *   absent), the only time it is shown; it is stored encrypted.
 * - `GET /api/crm/callbacks` → `{ items }`, the subscriptions without their secrets.
 * - `DELETE /api/crm/callbacks/:id` → 204; its pending deliveries stop.
 */
export const callbackRoutes: FastifyPluginAsync<IngestDeps> = async (app, deps) => {
  const typed = app.withTypeProvider<ZodTypeProvider>();
  const policy: CallbackUrlPolicy = { requireHttps: deps.callbacks?.requireHttps ?? false };

  typed.post(
    '/api/crm/callbacks',
    {
      schema: {
        summary: 'Subscribe a URL to signed event callbacks',
        description: 'The engine POSTs `communication.sent/delivered/failed/responded` and `client.replied` events, signed with the secret, to `url` (docs/callbacks.md). The secret (generated when absent) is shown in this answer only.',
        body: newCallbackSubscriptionSchema(policy),
        response: { 201: CreatedCallbackSubscriptionSchema.describe('The subscription, with its secret (shown this once)') },
      },
    },
    async (request, reply) => {
      const secret = request.body.secret ?? generateCallbackSecret();
      const sub = await createCallbackSubscription(deps.db, deps.keys, { url: request.body.url, events: request.body.events, secret });
      request.log.info({ subscriptionId: sub.id, events: sub.events, apiKeyId: request.apiKey?.id }, 'callback subscription created');
      return reply.code(201).send({ ...representation(sub), secret });
    },
  );

  typed.get('/api/crm/callbacks', {
    schema: {
      summary: 'List the callback subscriptions',
      description: 'Oldest first, without their secrets.',
      response: { 200: z.object({ items: z.array(CallbackSubscriptionSchema) }).describe('The subscriptions') },
    },
  }, async () => ({
    items: (await listCallbackSubscriptions(deps.db)).map(representation),
  }));

  typed.delete('/api/crm/callbacks/:id', {
    schema: {
      summary: 'Delete a callback subscription',
      description: '204; its secret is dropped and its pending deliveries stop. An unknown id is 404 `not_found`.',
      params: CallbackParamsSchema,
    },
  }, async (request, reply) => {
    const { id } = request.params;
    if (!(await deleteCallbackSubscription(deps.db, id))) {
      throw new ProblemError('not_found', `no callback subscription ${id}`, [{ field: 'id', in: 'params', message: 'no such subscription' }]);
    }
    request.log.info({ subscriptionId: id, apiKeyId: request.apiKey?.id }, 'callback subscription deleted');
    return reply.code(204).send();
  });
};
