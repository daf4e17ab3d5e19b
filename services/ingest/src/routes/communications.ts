import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { CommunicationRequestSchema, CommunicationStatusSchema, requestHash, type CommunicationRequest } from '@crm/core';
import { countStatusChange } from '@crm/observability';
import type { IngestDeps } from '../app';
import { ProblemError } from '../problem';
import { attachmentLimitOf, checkAttachments } from './attachments';
import { IntakeBatcher } from '../intake-batcher';
import { RequestEnqueuer } from '../request-enqueuer';

const AcceptedSchema = z.object({ id: z.uuid(), status: CommunicationStatusSchema });
const HeadersSchema = z.object({ 'idempotency-key': z.string().min(1).max(255).optional() });

/** The idempotency key from the header or the body; both given and different is an error. */
function idempotencyKeyOf(header: string | undefined, body: CommunicationRequest): string | null {
  if (header !== undefined && body.idempotencyKey !== null && header !== body.idempotencyKey) {
    throw new ProblemError('validation_failed', 'idempotencyKey: differs from the Idempotency-Key header', [
      { field: 'idempotencyKey', in: 'body', message: 'differs from the Idempotency-Key header' },
    ]);
  }
  return header ?? body.idempotencyKey;
}

/**
 * `POST /api/crm/communications`: validates the request (its attachments with one query, see
 * `checkAttachments`), stores the communication and the recipient's contact details
 * (encrypted, with the preferences) atomically, in one statement (see
 * `acceptCommunication`), and only then enqueues the job (ids only). If Redis is away at
 * that moment the request still succeeds: the row is the outbox, and it is enqueued again
 * from PostgreSQL.
 */
export const communicationsRoutes: FastifyPluginAsync<IngestDeps> = async (app, deps) => {
  // Requests validated in the same event-loop turn are stored with one statement, and their
  // jobs go to Redis in one round trip.
  const intake = new IntakeBatcher(deps.db, deps.keys, { ...(deps.preferencesCache && { preferencesCache: deps.preferencesCache }) });
  const enqueuer = new RequestEnqueuer(deps.producer);
  const attachmentLimit = attachmentLimitOf(deps);
  app.withTypeProvider<ZodTypeProvider>().post(
    '/api/crm/communications',
    {
      schema: {
        summary: 'Ask for one message',
        description:
          'Stores the communication (and the recipient\'s contact details, encrypted) and queues it; the strategy then picks ' +
          'channel and time. An idempotency key (the `Idempotency-Key` header or `idempotencyKey`) makes a retry answer the ' +
          'first communication (200) instead of a new one (202); the same key with another body is 409 `idempotency_conflict`. ' +
          'A client with no address or number anywhere is 422 `unreachable_client`.',
        body: CommunicationRequestSchema,
        headers: HeadersSchema,
        response: {
          200: AcceptedSchema.describe('A duplicate: the communication this idempotency key made before'),
          202: AcceptedSchema.describe('Accepted: stored and queued'),
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const idempotencyKey = idempotencyKeyOf(request.headers['idempotency-key'], body);
      // Before anything is written: every attachment exists and together they fit the limit.
      await checkAttachments(deps.db, [{ ids: body.attachments, field: 'attachments' }], attachmentLimit);

      const result = await intake.accept(
        {
          clientId: body.clientId,
          planId: body.planId,
          messageType: body.messageType,
          urgency: body.urgency,
          requestedChannel: body.channel,
          sendAt: body.sendAt === null ? null : new Date(body.sendAt),
          variables: body.variables,
          metadata: body.metadata,
          attachmentIds: body.attachments,
          idempotencyKey,
          requestHash: idempotencyKey === null ? null : requestHash({ ...body, idempotencyKey }),
        },
        body.recipient,
      );
      if (result.outcome === 'unreachable') {
        throw new ProblemError('unreachable_client', 'the client has no email address or phone number', [
          { field: 'recipient', in: 'body', message: 'give recipient.email or recipient.phone, or store them in the client preferences first' },
        ]);
      }
      // Nothing was stored for a conflict: neither the communication nor the recipient's details.
      if (result.outcome === 'conflict') {
        throw new ProblemError('idempotency_conflict', `idempotency key already used by communication ${result.id} with a different body`, [
          { field: 'idempotencyKey', in: 'body', message: 'was used with a different request' },
        ]);
      }
      const communication = result;
      if (result.outcome === 'created') {
        countStatusChange({ channel: null, messageType: body.messageType, status: 'pending' });
        try {
          await enqueuer.enqueue(communication.id);
        } catch (error) {
          request.log.error({ communicationId: communication.id, err: { name: (error as Error).name, message: (error as Error).message } }, 'enqueue failed; the row stays pending for the reconciler');
        }
      }
      request.log.debug({ communicationId: communication.id, outcome: result.outcome }, 'communication accepted');
      return reply.code(result.outcome === 'created' ? 202 : 200).send({ id: communication.id, status: communication.status });
    },
  );
};
