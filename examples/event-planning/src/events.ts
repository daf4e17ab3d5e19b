import { z } from 'zod';

/** `data` of `communication.sent/delivered/failed/responded`, as the workflow reads it. */
export const communicationEventDataSchema = z.object({
  communicationId: z.string().min(1),
  clientId: z.string(),
  planId: z.string().nullable(),
  messageType: z.string(),
  status: z.string(),
  channel: z.string().nullable(),
  channelsTried: z.array(z.string()).default([]),
  failureReason: z.string().nullable().default(null),
  metadata: z.record(z.string(), z.unknown()).default({}),
  at: z.string().min(1),
});

/** `data` of `client.replied`. */
export const clientRepliedDataSchema = z.object({
  inboundId: z.string(),
  clientId: z.string().nullable(),
  planId: z.string().nullable(),
  communicationId: z.string().nullable(),
  channel: z.string(),
  text: z.string().nullable(),
  selection: z.number().int().nullable(),
  at: z.string().min(1),
});

const envelope = { id: z.string().min(1).max(200), createdAt: z.string().min(1) };

/**
 * An event the engine POSTs (the contract of docs/workflow.md): `{ id, type, createdAt, data }`.
 * Fields the workflow does not read are let through.
 */
export const workflowEventSchema = z.discriminatedUnion('type', [
  z.object({ ...envelope, type: z.enum(['communication.sent', 'communication.delivered', 'communication.failed', 'communication.responded']), data: communicationEventDataSchema }),
  z.object({ ...envelope, type: z.literal('client.replied'), data: clientRepliedDataSchema }),
]);

/** An event as the workflow handles it. */
export type WorkflowEvent = z.infer<typeof workflowEventSchema>;
/** The event types the workflow subscribes to. */
export const workflowEventTypes = ['communication.sent', 'communication.delivered', 'communication.failed', 'communication.responded', 'client.replied'] as const;

/**
 * The option a reply chose: the engine's parsed `selection`, else a text that is just a number
 * ("2", " 2. "). `null` when neither.
 *
 * @example selectionOf({ selection: null, text: ' 2 ' }) // 2
 */
export function selectionOf(data: { readonly selection: number | null; readonly text: string | null }): number | null {
  if (data.selection !== null) return data.selection;
  const match = /^\s*#?\s*(\d{1,3})\s*[.!)]?\s*$/.exec(data.text ?? '');
  return match ? Number(match[1]) : null;
}
