import { z } from 'zod';
import { faultSettingSchemas, isFaultChannel, type FaultChannel, type FaultStore } from './faults';
import type { SandboxHttp } from './http-api';
import { problem, sendProblem } from './problem-details';
import { parseInput } from './validation';

const channelParams = z.strictObject({ channel: z.string().min(1).max(40) });

/**
 * The fault knobs over HTTP (docs/sandbox.md):
 *
 * - `GET /admin/faults` → `{ email, sms, whatsapp }`, each channel's current setting
 * - `GET /admin/faults/:channel` → that channel's setting
 * - `PUT /admin/faults/:channel` with `{ errorCode?, errorRate?, latencyMs?, outage? }` → 200
 *   with the new setting (fields left out are normal); a bad body is a 400 problem naming the
 *   field, an unknown channel a 404 problem
 * - `DELETE /admin/faults/:channel`, `DELETE /admin/faults` → 204, back to normal
 *
 * @example
 * registerFaultAdmin(app, faults);
 * await app.inject({ method: 'PUT', url: '/admin/faults/email', payload: { errorCode: 451 } });
 */
export function registerFaultAdmin(app: SandboxHttp, faults: FaultStore): void {
  /** The channel named in the path, or `null` once the 404 problem is sent. */
  const channelOf = (params: unknown): FaultChannel | null => {
    const parsed = channelParams.safeParse(params);
    return parsed.success && isFaultChannel(parsed.data.channel) ? parsed.data.channel : null;
  };
  const unknownChannel = problem(404, 'Unknown fault channel; the channels are email, sms and whatsapp');

  app.get('/admin/faults', async () => faults.all());

  app.get('/admin/faults/:channel', async (request, reply) => {
    const channel = channelOf(request.params);
    if (channel === null) return sendProblem(reply, unknownChannel);
    return faults.get(channel);
  });

  app.put('/admin/faults/:channel', async (request, reply) => {
    const channel = channelOf(request.params);
    if (channel === null) return sendProblem(reply, unknownChannel);
    const body = parseInput(faultSettingSchemas[channel], request.body, 'body');
    if (!body.success) return sendProblem(reply, body.problem);
    return faults.set(channel, body.data);
  });

  app.delete('/admin/faults/:channel', async (request, reply) => {
    const channel = channelOf(request.params);
    if (channel === null) return sendProblem(reply, unknownChannel);
    faults.reset(channel);
    return reply.code(204).send();
  });

  app.delete('/admin/faults', async (_request, reply) => {
    faults.reset();
    return reply.code(204).send();
  });
}
