import type { Kysely } from 'kysely';
import { CommunicationRepository, getClientContact, type Database, type PiiKeys } from '@crm/db';
import type { Logger } from '@crm/observability';
import { ProviderError, type EmailTransport } from '@crm/providers';
import { renderPlainEmail } from './render-plain-email';

export interface EmailDeps {
  readonly db: Kysely<Database>;
  readonly transport: EmailTransport;
  readonly keys: PiiKeys;
  readonly logger: Logger;
  /** Domain of generated Message-IDs. @defaultValue 'crm-engine.local' */
  readonly messageIdDomain?: string;
}

/**
 * Sends one email attempt for a `crm.email` job.
 *
 * The row is the lock: `queued → sending` is a conditional update that only one run can win,
 * so a redelivered job never sends twice once an attempt has started. Retries by error
 * category and channel fallback arrive with the pipeline issue; here a failure ends the
 * communication (`bounced` for a permanent SMTP refusal, otherwise `failed`).
 */
export async function processEmail(deps: EmailDeps, communicationId: string, attempt: number): Promise<void> {
  const log = deps.logger.child({ communicationId, attempt });
  const started = await CommunicationRepository.updateStatus(deps.db, {
    id: communicationId,
    to: 'sending',
    channel: 'email',
    attempt,
    provider: 'smtp',
    event: 'attempt_started',
  });
  if (!started.applied) {
    log.info({ reason: started.reason, current: 'current' in started ? started.current : null }, 'not sending: the row is not queued');
    return;
  }
  const row = started.communication;
  const contact = await getClientContact(deps.db, deps.keys, row.client_id);
  if (!contact?.email) {
    await CommunicationRepository.updateStatus(deps.db, {
      id: row.id,
      to: 'failed',
      channel: 'email',
      attempt,
      event: 'attempt_failed',
      failureReason: 'no_contact_for_channel',
      error: { message: 'the client has no email address', category: 'permanent' },
    });
    log.warn('no email address; failed');
    return;
  }

  const email = renderPlainEmail(row.message_type, row.variables);
  const startedAt = performance.now();
  try {
    const sent = await deps.transport.send({
      to: contact.email,
      subject: email.subject,
      text: email.text,
      messageId: `<${row.id}@${deps.messageIdDomain ?? 'crm-engine.local'}>`,
      headers: { 'X-CRM-Communication-Id': row.id },
    });
    const latencyMs = performance.now() - startedAt;
    await CommunicationRepository.updateStatus(deps.db, {
      id: row.id,
      to: 'sent',
      channel: 'email',
      attempt,
      provider: 'smtp',
      event: 'attempt_succeeded',
      providerMessageId: sent.messageId,
      latencyMs,
      detail: { response: sent.response },
    });
    log.info({ latencyMs: Math.round(latencyMs) }, 'email sent');
  } catch (error) {
    if (!(error instanceof ProviderError)) throw error;
    const latencyMs = performance.now() - startedAt;
    const bounced = error.category === 'permanent';
    await CommunicationRepository.updateStatus(deps.db, {
      id: row.id,
      to: bounced ? 'bounced' : 'failed',
      channel: 'email',
      attempt,
      provider: 'smtp',
      event: 'attempt_failed',
      latencyMs,
      failureReason: bounced ? 'bounced' : `smtp_${error.category}`,
      error: { message: error.message, code: error.code, category: error.category },
    });
    log.warn({ code: error.code, category: error.category }, 'email not sent');
  }
}
