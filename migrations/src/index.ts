import type { Migration } from 'kysely';
import * as initialSchema from './0001-initial-schema';
import * as apiKeys from './0002-api-keys';
import * as deliveryPipeline from './0003-delivery-pipeline';
import * as strategyAndTiming from './0004-strategy-and-timing';
import * as attachments from './0005-attachments';
import * as emailTemplates from './0006-email-templates';
import * as providerMessageIndex from './0007-provider-message-index';
import * as inboundMessages from './0008-inbound-messages';
import * as privacy from './0009-privacy';
import * as analyticsRollups from './0010-analytics-rollups';
import * as callbacks from './0011-callbacks';

/**
 * Every migration, by name. Names sort in the order they must run; Kysely's Migrator applies
 * them in that order and records each in its own table. Add a migration by adding a file and a
 * line here: a static list works the same from sources, from dist/ and in a container.
 */
export const migrations: Readonly<Record<string, Migration>> = Object.freeze({
  '0001-initial-schema': initialSchema,
  '0002-api-keys': apiKeys,
  '0003-delivery-pipeline': deliveryPipeline,
  '0004-strategy-and-timing': strategyAndTiming,
  '0005-attachments': attachments,
  '0006-email-templates': emailTemplates,
  '0007-provider-message-index': providerMessageIndex,
  '0008-inbound-messages': inboundMessages,
  '0009-privacy': privacy,
  '0010-analytics-rollups': analyticsRollups,
  '0011-callbacks': callbacks,
});
