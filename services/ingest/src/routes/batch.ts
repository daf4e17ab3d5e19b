import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { CommunicationRequestSchema, CommunicationStatusSchema, requestHash, type CommunicationRequest } from '@crm/core';
import { CommunicationRepository, getContactAvailabilities, upsertClientContacts, type ContactUpdate, type NewCommunication, type SavedItem } from '@crm/db';
import { countStatusChange } from '@crm/observability';
import type { IngestDeps } from '../app';
import { ProblemError } from '../problem';
import { attachmentLimitOf, checkAttachments } from './attachments';

/** Most items in one batch request. */
export const MAX_BATCH_ITEMS = 1000;
/** The batch route accepts bodies this many times `BODY_LIMIT_BYTES`. */
export const BATCH_BODY_LIMIT_FACTOR = 10;

const BatchBodySchema = z.strictObject({
  items: z.array(CommunicationRequestSchema).min(1, { message: 'must hold at least one item' }).max(MAX_BATCH_ITEMS, { message: `must hold at most ${MAX_BATCH_ITEMS} items` }),
});
const HeadersSchema = z.object({ 'idempotency-key': z.string().min(1).max(255).optional() });
const BatchAnswerSchema = z.object({
  items: z.array(z.object({ index: z.number().int(), id: z.guid(), status: CommunicationStatusSchema, outcome: z.enum(['created', 'duplicate']) })),
});

const contactOf = (item: CommunicationRequest): ContactUpdate | null =>
  item.recipient
    ? {
        clientId: item.clientId,
        ...(item.recipient.email !== undefined && { email: item.recipient.email }),
        ...(item.recipient.phone !== undefined && { phone: item.recipient.phone }),
        ...(item.recipient.timezone !== undefined && { timezone: item.recipient.timezone }),
      }
    : null;

/**
 * `POST /api/crm/communications/batch`: up to 1,000 requests in one transaction, written with
 * multi-row statements (recipients, communications with their log rows, a lookup for repeated
 * keys, a reachability check), then enqueued with one `addBulk`. All or nothing: a bad item
 * (400), a reused idempotency key with another body (409), an unknown attachment (422), an
 * item's attachments over the size limit (413) or an unreachable client (422) names the item's
 * index and nothing is written.
 *
 * Idempotency: each item's `idempotencyKey` field; or an `Idempotency-Key` header for the
 * whole batch, from which item `i` gets the key `<header>:<i>` (so a retried batch must keep
 * its order). Items may not carry their own key when the header is given.
 */
export const batchRoutes: FastifyPluginAsync<IngestDeps> = async (app, deps) => {
  const attachmentLimit = attachmentLimitOf(deps);
  app.withTypeProvider<ZodTypeProvider>().post(
    '/api/crm/communications/batch',
    {
      bodyLimit: deps.bodyLimitBytes * BATCH_BODY_LIMIT_FACTOR,
      schema: {
        summary: 'Ask for up to 1,000 messages at once, all or nothing',
        description:
          'One transaction: a bad item (400), a reused idempotency key with another body (409), an unknown attachment (422), ' +
          'attachments over the limit (413) or an unreachable client (422) names the item\'s index and nothing is stored. ' +
          'Idempotency per item (`idempotencyKey`), or an `Idempotency-Key` header for the batch: item `i` gets `<header>:<i>`. ' +
          'The body may be ten times BODY_LIMIT_BYTES.',
        body: BatchBodySchema,
        headers: HeadersSchema,
        response: {
          200: BatchAnswerSchema.describe('Every item was a duplicate of an earlier request'),
          202: BatchAnswerSchema.describe('At least one item was created and queued'),
        },
      },
    },
    async (request, reply) => {
      const { items } = request.body;
      const header = request.headers['idempotency-key'];
      if (header !== undefined) {
        const withKey = items.findIndex((item) => item.idempotencyKey !== null);
        if (withKey >= 0) {
          const field = `items.${withKey}.idempotencyKey`;
          throw new ProblemError('validation_failed', `${field}: give either the Idempotency-Key header (keys <header>:<index>) or a key per item, not both`, [
            { field, in: 'body', message: 'not allowed together with the Idempotency-Key header' },
          ]);
        }
      }
      // Every item's attachments, with one query, before anything is written.
      await checkAttachments(deps.db, items.map((item, index) => ({ ids: item.attachments, field: `items.${index}.attachments` })), attachmentLimit);
      const inputs: NewCommunication[] = items.map((item, index) => {
        const idempotencyKey = header !== undefined ? `${header}:${index}` : item.idempotencyKey;
        return {
          clientId: item.clientId,
          planId: item.planId,
          messageType: item.messageType,
          urgency: item.urgency,
          requestedChannel: item.channel,
          sendAt: item.sendAt === null ? null : new Date(item.sendAt),
          variables: item.variables,
          metadata: item.metadata,
          attachmentIds: item.attachments,
          idempotencyKey,
          requestHash: idempotencyKey === null ? null : requestHash({ ...item, idempotencyKey }),
        };
      });

      const saved: SavedItem[] = await deps.db.transaction().execute(async (trx) => {
        const contacts = items.map(contactOf).filter((contact): contact is ContactUpdate => contact !== null);
        await upsertClientContacts(trx, deps.keys, contacts);
        const results = await CommunicationRepository.saveMany(trx, inputs);

        // Thrown inside the transaction, so nothing of the batch is stored.
        const conflict = results.findIndex((result) => result.outcome === 'conflict');
        if (conflict >= 0) {
          const field = `items.${conflict}.idempotencyKey`;
          throw new ProblemError('idempotency_conflict', `${field}: already used by communication ${results[conflict]!.id} with a different body`, [
            { field, in: header !== undefined ? 'header' : 'body', message: 'was used with a different request' },
          ]);
        }
        // A recipient with an address or a number makes its client reachable; look up the others.
        const toCheck = results
          .map((result, index) => ({ result, index, item: items[index]! }))
          .filter(({ result, item }) => result.outcome === 'created' && !item.recipient?.email && !item.recipient?.phone);
        if (toCheck.length > 0) {
          const reachable = await getContactAvailabilities(trx, toCheck.map(({ item }) => item.clientId));
          const unreachable = toCheck.find(({ item }) => {
            const contact = reachable.get(item.clientId);
            return !contact?.email && !contact?.phone;
          });
          if (unreachable) {
            const field = `items.${unreachable.index}.recipient`;
            throw new ProblemError('unreachable_client', `${field}: client ${unreachable.item.clientId} has no email address or phone number`, [
              { field, in: 'body', message: 'give recipient.email or recipient.phone, or store them in the client preferences first' },
            ]);
          }
        }
        return results;
      });

      // Committed: the routing preferences of clients whose recipient was stored are stale in the cache (before their jobs run).
      await deps.preferencesCache?.invalidate(items.filter((item) => contactOf(item) !== null).map((item) => item.clientId));
      const created = saved.filter((result) => result.outcome === 'created');
      saved.forEach((result, index) => {
        if (result.outcome === 'created') countStatusChange({ channel: null, messageType: items[index]!.messageType, status: 'pending' });
      });
      if (created.length > 0) {
        try {
          await deps.producer.enqueueMany('crm.requests', created.map((result) => ({ communicationId: result.id })));
        } catch (error) {
          request.log.error({ communications: created.length, err: { name: (error as Error).name, message: (error as Error).message } }, 'batch enqueue failed; the rows stay pending for the reconciler');
        }
      }
      request.log.debug({ items: saved.length, created: created.length }, 'batch accepted');
      return reply.code(created.length > 0 ? 202 : 200).send({
        items: saved.map((result, index) => ({ index, id: result.id, status: result.status, outcome: result.outcome === 'created' ? 'created' : 'duplicate' })),
      });
    },
  );
};
