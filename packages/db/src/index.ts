export * from './schema';
export * from './create-database';
export * from './migrate';
export * from './errors';
export { encodeCursor, decodeCursor, type HistoryPosition } from './cursor';
export * from './communication-repository';
export * from './communication-history';
export * from './communication-analytics';
export * from './analytics-queries';
export * from './pii-crypto';
export * from './client-contact-repository';
export * from './client-contact-batch';
export * from './communication-batch';
export * from './communication-intake';
export * from './api-key-repository';

import {
  findCommunication,
  listDeliveryLogs,
  saveCommunication,
  updateCommunicationStatus,
} from './communication-repository';
import { getCommunicationHistory } from './communication-history';
import { saveCommunications } from './communication-batch';
import { getCommunicationAnalytics } from './communication-analytics';

/**
 * The communication repository: every function takes the database (or a transaction) first.
 *
 * @example
 * await db.transaction().execute(async (trx) => {
 *   const { communication } = await CommunicationRepository.save(trx, input);
 *   await CommunicationRepository.updateStatus(trx, { id: communication.id, to: 'queued' });
 * });
 */
export const CommunicationRepository = Object.freeze({
  save: saveCommunication,
  saveMany: saveCommunications,
  findById: findCommunication,
  listLogs: listDeliveryLogs,
  updateStatus: updateCommunicationStatus,
  getHistory: getCommunicationHistory,
  getAnalytics: getCommunicationAnalytics,
});
export * from './delivery-repository';
export * from './delivery-batch';
export * from './routing-preferences';
export * from './strategy-repository';
export * from './attachment-repository';
export * from './engagement-repository';
export * from './template-repository';
export * from './email-suppression';
export * from './provider-events';
export * from './inbound-repository';
export * from './key-rotation';
export * from './preferences-repository';
export * from './client-erasure';
export * from './callback-repository';
export * from './callback-url';
