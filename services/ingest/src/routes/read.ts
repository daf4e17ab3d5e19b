import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { CommunicationStatusSchema, digestMessageType, ExternalIdSchema, MessageChannelSchema, messageTypes } from '@crm/core';
import { CommunicationRepository } from '@crm/db';
import type { IngestDeps } from '../app';
import { ProblemError } from '../problem';
import { CommunicationDetailSchema, CommunicationSummarySchema, communicationDetail, communicationSummary } from '../representation';

/** `:id` of a communication: any 8-4-4-4-12 hex id, as PostgreSQL's uuid type reads it. */
export const IdParamsSchema = z.strictObject({ id: z.guid({ message: 'must be a communication id (a UUID)' }) });

/**
 * A query value that may list several values: `status=sent,failed` or `status=sent&status=failed`.
 * An unknown value is reported on the parameter itself.
 */
function listOf<T extends string>(values: z.ZodEnum<Record<T, T>>) {
  return z
    .union([z.string(), z.array(z.string())])
    .transform((raw, ctx) => {
      const parts = (Array.isArray(raw) ? raw : [raw]).flatMap((value) => value.split(',')).map((value) => value.trim()).filter(Boolean);
      const bad = parts.filter((part) => !values.safeParse(part).success);
      if (parts.length === 0 || bad.length > 0) {
        ctx.addIssue({ code: 'custom', message: `must be one or more of ${values.options.join(', ')}, separated by commas` });
        return z.NEVER;
      }
      return [...new Set(parts)] as T[];
    });
}

const isoDateTime = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time with an offset' });

export const HistoryQuerySchema = z
  .strictObject({
    planId: ExternalIdSchema.optional(),
    clientId: ExternalIdSchema.optional(),
    channel: listOf(MessageChannelSchema).optional(),
    status: listOf(CommunicationStatusSchema).optional(),
    messageType: listOf(z.enum([...messageTypes, digestMessageType])).optional(),
    from: isoDateTime.optional(),
    to: isoDateTime.optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    cursor: z.string().min(1).max(200).optional(),
  });

const HistoryAnswerSchema = z.object({ items: z.array(CommunicationSummarySchema), nextCursor: z.string().nullable() });

/**
 * `GET /api/crm/communications/:id`: one communication with its delivery log.
 * `GET /api/crm/communications`: the history, newest first, filtered and paged by cursor.
 * Neither ever shows contact details: they are not on the communication at all.
 */
export const readRoutes: FastifyPluginAsync<IngestDeps> = async (app, deps) => {
  const api = app.withTypeProvider<ZodTypeProvider>();

  api.get(
    '/api/crm/communications/:id',
    {
      schema: {
        summary: 'One communication with its delivery log',
        description: 'Status, channels tried, timestamps, failure reason and every log row (attempts, provider answers, webhooks). No contact details: they are not on the communication.',
        params: IdParamsSchema,
        response: { 200: CommunicationDetailSchema },
      },
    },
    async (request) => {
      const { id } = request.params;
      const [row, log] = await Promise.all([CommunicationRepository.findById(deps.db, id), CommunicationRepository.listLogs(deps.db, id)]);
      if (!row) throw new ProblemError('not_found', `no communication ${id}`, [{ field: 'id', in: 'params', message: 'no such communication' }]);
      return communicationDetail(row, log);
    },
  );

  api.get(
    '/api/crm/communications',
    {
      schema: {
        summary: 'The history of communications, newest first',
        description:
          'Filters by plan, client, channel, status, message type (lists: `status=sent,failed` or repeated) and time (`from`, `to`, ' +
          'with an offset); pages by cursor: pass `nextCursor` back as `cursor` until it is null.',
        querystring: HistoryQuerySchema,
        response: { 200: HistoryAnswerSchema },
      },
    },
    async (request) => {
      const query = request.query;
      if (query.from !== undefined && query.to !== undefined && Date.parse(query.from) > Date.parse(query.to)) {
        throw new ProblemError('validation_failed', 'to: is before from', [{ field: 'to', in: 'query', message: 'is before from' }]);
      }
      const page = await CommunicationRepository.getHistory(deps.db, {
        ...(query.planId !== undefined && { planId: query.planId }),
        ...(query.clientId !== undefined && { clientId: query.clientId }),
        ...(query.channel !== undefined && { channel: query.channel }),
        ...(query.status !== undefined && { status: query.status }),
        ...(query.messageType !== undefined && { messageType: query.messageType }),
        ...(query.from !== undefined && { from: new Date(query.from) }),
        ...(query.to !== undefined && { to: new Date(query.to) }),
        ...(query.cursor !== undefined && { cursor: query.cursor }),
        limit: query.limit,
      });
      return { items: page.items.map(communicationSummary), nextCursor: page.nextCursor };
    },
  );
};
