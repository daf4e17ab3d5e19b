/** Every queue, by role (see ARCHITECTURE.md, "Queues"). */
export const QueueName = Object.freeze({
  /** New or re-enqueued communications, for the strategy worker. */
  requests: 'crm.requests',
  /** Email sends, for the email worker. */
  email: 'crm.email',
  /** SMS and WhatsApp sends, for the messaging worker. */
  messaging: 'crm.messaging',
  /** A channel gave up; the strategy worker picks the next one. */
  fallback: 'crm.fallback',
  /** Digest windows to flush. */
  digest: 'crm.digest',
  /** Delivery, open, click and reply events, for the analytics worker. */
  events: 'crm.events',
  /** Signed event callbacks to subscribers, for the callback worker. */
  callbacks: 'crm.callbacks',
} as const);
export type QueueName = (typeof QueueName)[keyof typeof QueueName];
export const queueNames: readonly QueueName[] = Object.freeze(Object.values(QueueName));
