import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * The fault knobs of one messaging channel, as a simulator reads them per request (the shape
 * of the sandbox's `FaultSetting`).
 */
export interface SimulatorFault {
  /** Every request fails as if the provider were down. */
  readonly outage: boolean;
  /** A provider error code to answer with (Twilio `20429`, WhatsApp `131056`, …), or none. */
  readonly errorCode: number | string | null;
  /** Share of requests (0–1) that get `errorCode`. */
  readonly errorRate: number;
  /** Delay before answering, in ms. */
  readonly latencyMs: number;
}

/** Where a simulator reads its channel's current faults (the sandbox's `FaultStore` is one). */
export interface FaultSource {
  get(channel: 'sms' | 'whatsapp'): SimulatorFault | undefined;
}

/** What a simulator does with one request under its faults. */
export type FaultOutcome = { readonly kind: 'none' } | { readonly kind: 'outage' } | { readonly kind: 'error'; readonly code: number | string };

/**
 * Applies `fault` to one request: waits `latencyMs` first, then decides the outcome (outage;
 * `errorCode` with probability `errorRate`; else none). `connected` is false when the client
 * hung up during the wait (e.g. its timeout fired): the simulator must then store nothing.
 */
export async function applyFault(
  fault: SimulatorFault | undefined,
  request: FastifyRequest,
  random: () => number = Math.random,
): Promise<{ readonly outcome: FaultOutcome; readonly connected: boolean }> {
  if (fault && fault.latencyMs > 0) await sleep(fault.latencyMs);
  // The request stream itself is done once its body was read; the socket tells whether the
  // client is still there (a client that gave up closed it: ended, no longer writable).
  const { socket } = request.raw;
  const connected = !socket.destroyed && !socket.readableEnded && socket.writable;
  if (!fault) return { outcome: { kind: 'none' }, connected };
  if (fault.outage) return { outcome: { kind: 'outage' }, connected };
  if (fault.errorCode !== null && fault.errorRate > 0 && (fault.errorRate >= 1 || random() < fault.errorRate)) {
    return { outcome: { kind: 'error', code: fault.errorCode }, connected };
  }
  return { outcome: { kind: 'none' }, connected };
}

/**
 * Ends a request whose client is gone without answering it: the reply is taken over from
 * Fastify and the socket destroyed, so no half-closed connection lingers (and keeps the
 * server from closing).
 */
export function dropConnection(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  reply.hijack();
  request.raw.socket.destroy();
  return reply;
}
