import type { FastifyBaseLogger, FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ExternalIdSchema, messageChannels } from '@crm/core';
import { eraseClient, exportClient, type ClientErasure } from '@crm/db';
import { rateLimitKey } from '@crm/delivery';
import { jobIdFor, QueueName, type QueueProducer } from '@crm/queue';
import type { IngestDeps } from '../app';
import { ProblemError } from '../problem';

/** `:clientId`: an opaque client id, as in a communication request. */
export const ClientParamsSchema = z.strictObject({ clientId: ExternalIdSchema });

/** The answer of `DELETE /api/crm/clients/:clientId`: what was erased (counts only). */
export const ClientErasedSchema = z.object({
  clientId: z.string(),
  erased: z.literal(true),
  /** Communications kept for anonymous counts, with nothing personal left on them. */
  communications: z.number().int(),
  /** Of those, the ones that had not left the engine and were cancelled. */
  cancelled: z.number().int(),
  inboundMessages: z.number().int(),
  attachments: z.number().int(),
});

const clientNotFound = (clientId: string) =>
  new ProblemError('client_not_found', `the engine holds nothing about client ${clientId} (never known, or erased already)`, [
    { field: 'clientId', in: 'params', message: 'no such client' },
  ]);

/** The client id as a file name: anything but letters, digits, `_`, `.` and `-` becomes `_`. */
export const exportFilename = (clientId: string): string => `client-${clientId.replace(/[^A-Za-z0-9_.-]/g, '_')}-export.json`;

/** One job to remove: its queue and its id. */
export interface JobRef {
  readonly queue: QueueName;
  readonly jobId: string;
}

/**
 * Every job id an erased client's communications and digests can have in Redis, derived from
 * the rows as the producers derive them (see `jobIdFor`): the `crm.requests` job and a postponed
 * message's wake-up, each attempt's `crm.email` and `crm.messaging` job (the latter carries the
 * client id), the fallbacks, and the `crm.digest` job of each digest (it carries the client id).
 * (`crm.events` job ids carry a time and are found by {@link eventJobsOf}.)
 */
export function jobsOfErasure(erased: Pick<ClientErasure, 'jobs' | 'digestIds'>): JobRef[] {
  const jobs: JobRef[] = [];
  for (const row of erased.jobs) {
    const communicationId = row.id;
    jobs.push({ queue: QueueName.requests, jobId: jobIdFor(QueueName.requests, { communicationId }) });
    if (row.scheduledFor) jobs.push({ queue: QueueName.requests, jobId: jobIdFor(QueueName.requests, { communicationId, due: row.scheduledFor.getTime() }) });
    // The next attempt's job may be added by a worker that raced the erasure.
    for (let attempt = 1; attempt <= row.attemptCount + 1; attempt++) {
      jobs.push({ queue: QueueName.email, jobId: jobIdFor(QueueName.email, { communicationId, attempt }) });
      for (const channel of ['sms', 'whatsapp'] as const) {
        jobs.push({ queue: QueueName.messaging, jobId: jobIdFor(QueueName.messaging, { communicationId, channel, attempt }) });
      }
    }
    for (const failedChannel of messageChannels) {
      jobs.push({ queue: QueueName.fallback, jobId: jobIdFor(QueueName.fallback, { communicationId, failedChannel, category: 'transient' }) });
    }
  }
  for (const windowId of erased.digestIds) {
    jobs.push({ queue: QueueName.digest, jobId: jobIdFor(QueueName.digest, { clientId: 'erased', windowId }) });
  }
  return jobs;
}

/** The states of `crm.events` jobs that are swept (an active one is its worker's). */
const sweptEventStates = ['waiting', 'delayed', 'prioritized', 'paused', 'waiting-children', 'completed', 'failed'] as const;
/** Job ids read from Redis at once while sweeping `crm.events`. */
const SWEEP_PAGE = 5_000;

/**
 * The `crm.events` jobs of the erased communications and inbound messages. Their ids carry the
 * event's time (`<communicationId>.<event>.<ms>`; `inbound.<inboundId>.replied`), so they cannot
 * be derived from the rows: the ids of the queue's jobs are read (ids only, a page at a time)
 * and matched. The jobs hold ids and event names only; they go so that nothing in Redis points
 * at the client's messages any more.
 */
async function eventJobsOf(producer: QueueProducer, erased: Pick<ClientErasure, 'jobs' | 'inboundIds'>): Promise<JobRef[]> {
  const communicationIds = new Set(erased.jobs.map((row) => row.id));
  const inboundIds = new Set(erased.inboundIds);
  if (communicationIds.size === 0 && inboundIds.size === 0) return [];
  const matches = (jobId: string): boolean => {
    const [head = '', second = ''] = jobId.split('.');
    return communicationIds.has(head) || (head === 'inbound' && inboundIds.has(second));
  };
  const queue = producer.queue(QueueName.events);
  const found = new Set<string>();
  for (const state of sweptEventStates) {
    for (let start = 0; ; start += SWEEP_PAGE) {
      const ids = await queue.getRanges([state], start, start + SWEEP_PAGE - 1, true);
      for (const id of ids) if (matches(id)) found.add(id);
      if (ids.length < SWEEP_PAGE) break;
    }
  }
  return [...found].map((jobId) => ({ queue: QueueName.events, jobId }));
}

/** Providers whose per-recipient rate-limit keys are named by client id (see `rateLimitKey`). */
const recipientLimitedProviders = ['twilio', 'whatsapp'] as const;
/** Removals sent to Redis at once. */
const REMOVE_CHUNK = 200;

/**
 * Removes `jobs` in whatever state they are (waiting, delayed, completed, failed) and the
 * client's per-recipient rate-limit keys. A job a worker holds (active, locked) cannot be
 * removed and stays: its worker's claim or status write finds the row cancelled. Answers how
 * many jobs were not removed because a worker held them.
 */
async function removeJobs(producer: QueueProducer, jobs: readonly JobRef[], clientId: string): Promise<number> {
  let locked = 0;
  for (let i = 0; i < jobs.length; i += REMOVE_CHUNK) {
    const results = await Promise.all(jobs.slice(i, i + REMOVE_CHUNK).map((job) => producer.queue(job.queue).remove(job.jobId)));
    locked += results.filter((removed) => removed === 0).length;
  }
  const queue = producer.queue(QueueName.messaging);
  const prefix = queue.opts.prefix;
  if (prefix) {
    const client = await queue.client;
    await client.del(...recipientLimitedProviders.map((provider) => rateLimitKey(prefix, provider, clientId)));
  }
  return locked;
}

/** After the erasure committed: its jobs go, and the cached preferences. Failures are logged, not answered. */
async function cleanUpAfterErasure(deps: IngestDeps, erased: ClientErasure, log: FastifyBaseLogger): Promise<void> {
  try {
    const jobs = [...jobsOfErasure(erased), ...(await eventJobsOf(deps.producer, erased))];
    const locked = await removeJobs(deps.producer, jobs, erased.clientId);
    if (locked > 0) log.info({ locked }, 'erasure: jobs held by a worker were left to it (their rows are cancelled or anonymised)');
  } catch (error) {
    log.warn({ err: { name: (error as Error).name, message: (error as Error).message } }, 'erasure: jobs not removed from Redis');
  }
  try {
    await deps.preferencesCache?.invalidate([erased.clientId]);
  } catch (error) {
    log.warn({ err: { name: (error as Error).name, message: (error as Error).message } }, 'erasure: preferences cache not invalidated');
  }
}

/**
 * `DELETE /api/crm/clients/:clientId`: erases the client's personal data everywhere (GDPR
 * right to erasure; see `eraseClient` in @crm/db for what goes and what stays), then removes
 * its jobs from every queue and its cached preferences. `404 client_not_found` when nothing is
 * held about the client, which is also the answer to a second erasure.
 *
 * `GET /api/crm/clients/:clientId/export`: everything held about the client as one JSON file
 * (right of access and portability), decrypted; the export is recorded in the audit log.
 *
 * Both record the API key that asked as the actor. Neither logs the client id or anything of
 * the client's.
 */
export const clientRoutes: FastifyPluginAsync<IngestDeps> = async (app, deps) => {
  const api = app.withTypeProvider<ZodTypeProvider>();

  api.delete(
    '/api/crm/clients/:clientId',
    {
      schema: {
        summary: "Erase a client's personal data everywhere (GDPR)",
        description:
          'In one transaction: the preferences (contact details included), inbound messages and the attachments only this client\'s ' +
          'communications carry are erased; communications and their log stay for anonymous counts, stripped of ids, variables and ' +
          'error texts, and those that have not reached a provider are cancelled. Then the client\'s jobs and cached preferences go. ' +
          '404 `client_not_found` when nothing is held, which is also the answer to a second erasure.',
        params: ClientParamsSchema,
        response: { 200: ClientErasedSchema.describe('Erased: what went, as counts') },
      },
    },
    async (request) => {
      const { clientId } = request.params;
      const actor = request.apiKey?.id ?? null;
      const erased = await eraseClient(deps.db, clientId, { actor });
      if (!erased) throw clientNotFound(clientId);
      request.log.info(
        { apiKeyId: actor, communications: erased.communications, cancelled: erased.cancelled, inboundMessages: erased.inboundMessages, attachments: erased.attachments },
        'client erased',
      );
      await cleanUpAfterErasure(deps, erased, request.log);
      return {
        clientId,
        erased: true as const,
        communications: erased.communications,
        cancelled: erased.cancelled,
        inboundMessages: erased.inboundMessages,
        attachments: erased.attachments,
      };
    },
  );

  api.get(
    '/api/crm/clients/:clientId/export',
    {
      schema: {
        summary: 'Everything held about a client, as one JSON file (GDPR access and portability)',
        description: 'Decrypted, as a download (`Content-Disposition: attachment`); the export is recorded in the audit log with the API key that asked.',
        params: ClientParamsSchema,
      },
    },
    async (request, reply) => {
      const { clientId } = request.params;
      const actor = request.apiKey?.id ?? null;
      const exported = await exportClient(deps.db, deps.keys, clientId, { actor });
      if (!exported) throw clientNotFound(clientId);
      request.log.info({ apiKeyId: actor, communications: exported.communications.length }, 'client exported');
      return reply
        .header('content-disposition', `attachment; filename="${exportFilename(clientId)}"`)
        .header('cache-control', 'no-store')
        .type('application/json; charset=utf-8')
        .send(exported);
    },
  );
};
