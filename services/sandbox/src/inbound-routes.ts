import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import type { SandboxHttp } from './http-api';
import { InboundError } from './inbound-error';
import type { InboundSimulator } from './inbound';
import { problem, sendProblem } from './problem-details';
import { parseInput } from './validation';

const e164 = z.string().trim().regex(/^\+[1-9]\d{7,14}$/, 'must be an E.164 number such as +14155550123');
const waNumber = z.string().trim().regex(/^\+?[1-9]\d{6,14}$/, 'must be a phone number (digits, optional +)');
const optionId = z.string().min(1).max(256);

const inboundSmsBody = z.strictObject({
  from: e164,
  body: z.string().min(1).max(1600),
  to: e164.optional(),
});

const inboundWhatsAppBody = z
  .strictObject({
    from: waNumber,
    text: z.string().min(1).max(4096).optional(),
    buttonReply: z.strictObject({ id: optionId, title: z.string().min(1).max(20).optional() }).optional(),
    listReply: z.strictObject({ id: optionId, title: z.string().min(1).max(24).optional(), description: z.string().min(1).max(72).optional() }).optional(),
    contextMessageId: z.string().min(1).max(256).optional(),
    name: z.string().min(1).max(256).optional(),
  })
  .refine((body) => [body.text, body.buttonReply, body.listReply].filter((part) => part !== undefined).length === 1, {
    message: 'give exactly one of text, buttonReply, listReply',
  });

/** An {@link InboundError} as a problem answer; anything else is rethrown (a 500). */
const sendInboundError = (reply: FastifyReply, error: unknown): FastifyReply => {
  if (error instanceof InboundError) return sendProblem(reply, problem(error.status, error.message));
  throw error;
};

/**
 * Test routes that make the sandbox play a client writing back (docs/sandbox.md, "Inbound
 * messages"):
 *
 * - `POST /sms/inbound` `{ from, body, to? }` → posts Twilio's inbound webhook (signed) to
 *   ingest and answers `200 { status, messageSid, replies }`: ingest's HTTP status, the
 *   inbound SID, and the TwiML `<Message>` replies, stored in the SMS outbox as replies to `from`.
 * - `POST /whatsapp/inbound` `{ from, text? | buttonReply?: { id, title? } | listReply?: { id,
 *   title?, description? }, contextMessageId?, name? }` → posts Meta's `messages` webhook
 *   (signed) and answers `200 { status, messageId, contextMessageId, attempts }`; a button or
 *   list reply's context defaults to the newest message sent to `from` with that option. It
 *   opens `from`'s 24-hour window.
 *
 * A bad body is a 400 problem naming the field; a reply without context 400; no `webhooks`
 * configured 503; ingest unreachable 502.
 *
 * @example
 * registerInboundRoutes(app, inbound);
 * await app.inject({ method: 'POST', url: '/sms/inbound', payload: { from: '+14155550123', body: 'HELP' } });
 */
export function registerInboundRoutes(app: SandboxHttp, inbound: InboundSimulator): void {
  app.post('/sms/inbound', async (request, reply) => {
    const body = parseInput(inboundSmsBody, request.body ?? {}, 'body');
    if (!body.success) return sendProblem(reply, body.problem);
    try {
      return await inbound.sms(body.data);
    } catch (error) {
      return sendInboundError(reply, error);
    }
  });

  app.post('/whatsapp/inbound', async (request, reply) => {
    const body = parseInput(inboundWhatsAppBody, request.body ?? {}, 'body');
    if (!body.success) return sendProblem(reply, body.problem);
    try {
      return await inbound.whatsapp(body.data);
    } catch (error) {
      return sendInboundError(reply, error);
    }
  });
}
