import { z } from 'zod';
import type { CustomerServiceWindow } from './customer-service-window';
import { deliveryOutcomeSchemas, isCallbackChannel, type CallbackChannel, type DeliveryOutcomes } from './delivery-outcomes';
import type { SandboxHttp } from './http-api';
import type { InboundSimulator } from './inbound';
import { problem, sendProblem } from './problem-details';
import { MAX_CALLBACK_DELAY_MS, type StatusCallbacks } from './status-callbacks';
import { parseInput } from './validation';

/** What {@link registerCallbackAdmin} controls. */
export interface CallbackAdminDependencies {
  readonly callbacks: StatusCallbacks;
  readonly outcomes: DeliveryOutcomes;
  readonly window: CustomerServiceWindow;
  /** Its counters are shown by `GET /admin/callbacks`. */
  readonly inbound?: InboundSimulator;
}

const channelParams = z.strictObject({ channel: z.string().min(1).max(40) });
const settingsBody = z.strictObject({ enabled: z.boolean().optional(), delayMs: z.number().int().min(0).max(MAX_CALLBACK_DELAY_MS).optional() });
const windowBody = z.strictObject({ enforce: z.boolean() });

/**
 * The status-callback and customer-service-window knobs over HTTP (docs/sandbox.md):
 *
 * - `GET /admin/callbacks` → `{ enabled, delayMs, counts: { messages, pending, delivered,
 *   failed, attempts, retries }, inbound: { sms, whatsapp, notAccepted, replies }, outcomes }`
 * - `PUT /admin/callbacks` `{ enabled?, delayMs? }` → the new settings (for messages accepted from now on)
 * - `PUT /admin/callbacks/outcomes/:channel` (`sms` | `whatsapp`) `{ final?, errorCode?,
 *   outOfOrder?, to? }` → 200 with the stored outcome (per recipient when `to` is given)
 * - `DELETE /admin/callbacks/outcomes[/:channel]` → 204, back to the normal outcome
 * - `GET /admin/whatsapp/window` → `{ enforce, windowMs, contacts }`; `PUT` `{ enforce }` →
 *   the new state; `DELETE` → 204, every number's window closed
 *
 * A bad body is a 400 problem naming the field; an unknown channel a 404 problem.
 *
 * @example
 * registerCallbackAdmin(app, { callbacks, outcomes, window, inbound });
 * await app.inject({ method: 'PUT', url: '/admin/callbacks/outcomes/sms', payload: { final: 'undelivered', errorCode: 30005 } });
 */
export function registerCallbackAdmin(app: SandboxHttp, dependencies: CallbackAdminDependencies): void {
  const { callbacks, outcomes, window, inbound } = dependencies;
  const channelOf = (params: unknown): CallbackChannel | null => {
    const parsed = channelParams.safeParse(params);
    return parsed.success && isCallbackChannel(parsed.data.channel) ? parsed.data.channel : null;
  };
  const unknownChannel = problem(404, 'Unknown callback channel; the channels are sms and whatsapp');

  app.get('/admin/callbacks', async () => ({
    enabled: callbacks.enabled,
    delayMs: callbacks.delayMs,
    counts: callbacks.counts(),
    inbound: inbound?.counts() ?? null,
    outcomes: outcomes.all(),
  }));

  app.put('/admin/callbacks', async (request, reply) => {
    const body = parseInput(settingsBody, request.body ?? {}, 'body');
    if (!body.success) return sendProblem(reply, body.problem);
    return callbacks.configure(body.data);
  });

  app.put('/admin/callbacks/outcomes/:channel', async (request, reply) => {
    const channel = channelOf(request.params);
    if (channel === null) return sendProblem(reply, unknownChannel);
    const body = parseInput(deliveryOutcomeSchemas[channel], request.body ?? {}, 'body');
    if (!body.success) return sendProblem(reply, body.problem);
    return outcomes.set(channel, body.data.outcome, body.data.to);
  });

  app.delete('/admin/callbacks/outcomes/:channel', async (request, reply) => {
    const channel = channelOf(request.params);
    if (channel === null) return sendProblem(reply, unknownChannel);
    outcomes.reset(channel);
    return reply.code(204).send();
  });

  app.delete('/admin/callbacks/outcomes', async (_request, reply) => {
    outcomes.reset();
    return reply.code(204).send();
  });

  app.get('/admin/whatsapp/window', async () => window.state());

  app.put('/admin/whatsapp/window', async (request, reply) => {
    const body = parseInput(windowBody, request.body ?? {}, 'body');
    if (!body.success) return sendProblem(reply, body.problem);
    window.setEnforce(body.data.enforce);
    request.log.info({ enforce: body.data.enforce }, 'sandbox whatsapp window enforcement set');
    return window.state();
  });

  app.delete('/admin/whatsapp/window', async (_request, reply) => {
    window.clear();
    return reply.code(204).send();
  });
}
