import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { CommunicationStatus } from '@crm/core';
import { CommunicationRepository } from '@crm/db';
import { jobIdFor } from '@crm/queue';
import { countStatusChange } from '@crm/observability';
import type { IngestDeps } from '../app';
import { ProblemError } from '../problem';
import { CommunicationDetailSchema, communicationDetail } from '../representation';
import { IdParamsSchema } from './read';

/** Statuses a communication can still be cancelled from: nothing has been handed to a provider. */
export const cancellableStatuses: readonly CommunicationStatus[] = Object.freeze(['pending', 'scheduled', 'queued']);
/** Recorded as the communication's `failure_reason` and in its log row's detail. */
export const CANCEL_REASON = 'cancelled_by_api';

const notCancellable = (id: string, status: CommunicationStatus) =>
  new ProblemError('not_cancellable', `communication ${id} is ${status}; only ${cancellableStatuses.join(', ')} can be cancelled`, [
    { field: 'id', in: 'params', message: `is ${status}` },
  ]);

/**
 * `POST /api/crm/communications/:id/cancel`: moves a communication that has not started
 * sending to `cancelled` (a conditional update, so it cannot race past `sending`), answers it,
 * and removes its waiting `crm.requests` jobs (the first, and a postponed message's wake-up). Cancelling twice answers the
 * cancelled communication again. The workers re-check the row before sending, so the job
 * removal is only an optimisation.
 */
export const cancelRoutes: FastifyPluginAsync<IngestDeps> = async (app, deps) => {
  app.withTypeProvider<ZodTypeProvider>().post(
    '/api/crm/communications/:id/cancel',
    {
      schema: {
        summary: 'Cancel a communication that has not started sending',
        description: 'From `pending`, `scheduled` or `queued` to `cancelled`; cancelling twice answers the cancelled communication again. Any later status is 409 `not_cancellable`.',
        params: IdParamsSchema,
        response: { 200: CommunicationDetailSchema.describe('The cancelled communication, with its log') },
      },
    },
    async (request) => {
      const { id } = request.params;
      const row = await CommunicationRepository.findById(deps.db, id);
      if (!row) throw new ProblemError('not_found', `no communication ${id}`, [{ field: 'id', in: 'params', message: 'no such communication' }]);

      if (row.status !== 'cancelled') {
        if (!cancellableStatuses.includes(row.status)) throw notCancellable(id, row.status);
        const change = await CommunicationRepository.updateStatus(deps.db, {
          id,
          to: 'cancelled',
          event: 'cancelled',
          failureReason: CANCEL_REASON,
          detail: { reason: CANCEL_REASON, ...(request.apiKey && { apiKeyId: request.apiKey.id }) },
        });
        // Moved on (or cancelled by someone else) since we read it.
        if (!change.applied) {
          if (change.reason === 'not_found') throw new ProblemError('not_found', `no communication ${id}`, [{ field: 'id', in: 'params', message: 'no such communication' }]);
          if (change.current !== 'cancelled') throw notCancellable(id, change.current);
        } else {
          countStatusChange({ channel: row.channel, messageType: row.message_type, status: 'cancelled' });
          request.log.info({ communicationId: id, from: change.from, apiKeyId: request.apiKey?.id }, 'communication cancelled');
          const jobIds = [jobIdFor('crm.requests', { communicationId: id })];
          // A postponed message also has its wake-up job, delayed until its time.
          if (row.scheduled_for && !row.digest_id) jobIds.push(jobIdFor('crm.requests', { communicationId: id, due: row.scheduled_for.getTime() }));
          await removeRequestJobs(deps, jobIds).catch((error: unknown) =>
            request.log.debug({ communicationId: id, err: { message: (error as Error).message } }, 'request job not removed'),
          );
        }
      }
      const [current, log] = await Promise.all([CommunicationRepository.findById(deps.db, id), CommunicationRepository.listLogs(deps.db, id)]);
      return communicationDetail(current ?? row, log);
    },
  );
};

/** Removes the communication's `crm.requests` jobs unless a worker holds one (then the worker sees the row). */
async function removeRequestJobs(deps: IngestDeps, jobIds: readonly string[]): Promise<void> {
  const queue = deps.producer.queue('crm.requests');
  for (const jobId of jobIds) {
    const job = await queue.getJob(jobId);
    if (!job) continue;
    const state = await job.getState();
    if (state === 'waiting' || state === 'delayed' || state === 'prioritized' || state === 'waiting-children') await job.remove();
  }
}
