import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import type { StoredMessageType } from '@crm/core';
import { currentTemplate, publishTemplate, type Database, type TemplateDraft, type TemplateVersion } from '@crm/db';
import type { Logger } from '@crm/observability';
import { bindEmailTemplate, compileMjml, loadEmailTemplateSources, type CompiledEmailTemplate, type EmailTemplateSource } from '@crm/templates';

export interface TemplateStoreOptions {
  readonly db: Kysely<Database>;
  readonly logger: Logger;
  /** For the compiled-HTML cache; without it templates are cached in memory only. */
  readonly redis?: Redis;
  /** A connection of its own for SUBSCRIBE (invalidation when another process publishes). */
  readonly subscriber?: Redis;
  /** Prefix of the Redis keys and channel (the queue prefix). @defaultValue 'crm' */
  readonly prefix?: string;
  /**
   * How long a process trusts its in-memory entry before asking PostgreSQL for the current
   * version again, in ms: a safety net for a missed invalidation message. @defaultValue 30000
   */
  readonly recheckMs?: number;
}

/** A template ready to render, and the version it is. */
export interface ResolvedTemplate {
  readonly version: TemplateVersion;
  readonly compiled: CompiledEmailTemplate;
}

interface Entry extends ResolvedTemplate {
  checkedAt: number;
}

/** A template's draft from a file of packages/templates, for publishing. */
export function draftFromSource(source: EmailTemplateSource): TemplateDraft {
  return {
    messageType: source.messageType,
    channel: source.channel,
    language: source.language,
    subject: source.subject,
    body: source.mjml,
    textBody: source.text,
    requiredVariables: source.requiredVariables,
  };
}

/**
 * Email templates as versioned rows of `crm_communication_templates`, compiled once: MJML → HTML
 * (the slow step, ~10–100 ms) is cached in Redis under the version's id, without expiry (a
 * version never changes), and the bound Handlebars template in memory. Publishing a new version
 * (or seeding a changed file) tells every process over Redis pub/sub to drop its entry; each
 * process also re-checks the current version every `recheckMs` in case it missed the message.
 *
 * @example
 * const store = new TemplateStore({ db, logger, redis, subscriber, prefix });
 * await store.seed();             // publishes the repository's templates whose content changed
 * await store.listen();
 * const { version, compiled } = await store.get('budget_summary');
 */
export class TemplateStore {
  readonly #options: TemplateStoreOptions;
  readonly #memory = new Map<string, Entry>();
  readonly #compiling = new Map<string, Promise<Entry>>();
  #listening = false;

  constructor(options: TemplateStoreOptions) {
    this.#options = options;
  }

  get #channel(): string {
    return `${this.#options.prefix ?? 'crm'}:templates:published`;
  }

  #key(messageType: StoredMessageType, language: string): string {
    return `${messageType}:email:${language}`;
  }

  /** Publishes each template file whose content differs from its newest version; answers the versions published. */
  async seed(sources: readonly EmailTemplateSource[] = loadEmailTemplateSources()): Promise<TemplateVersion[]> {
    const published: TemplateVersion[] = [];
    for (const source of sources) {
      const result = await this.publish(draftFromSource(source));
      if (result.published) published.push(result.template);
    }
    if (published.length > 0) this.#options.logger.info({ templates: published.map((t) => `${t.messageType} v${t.version}`) }, 'templates published');
    return published;
  }

  /** Publishes a new version (if its content changed) and invalidates every process's cached entry. */
  async publish(draft: TemplateDraft): Promise<{ readonly template: TemplateVersion; readonly published: boolean }> {
    const result = await publishTemplate(this.#options.db, draft);
    if (result.published) {
      const key = this.#key(draft.messageType, draft.language);
      this.#memory.delete(key);
      await this.#options.redis?.publish(this.#channel, key);
    }
    return result;
  }

  /** Subscribes to invalidations published by other processes. */
  async listen(): Promise<void> {
    const subscriber = this.#options.subscriber;
    if (!subscriber || this.#listening) return;
    this.#listening = true;
    subscriber.on('message', (channel: string, key: string) => {
      if (channel === this.#channel) this.#memory.delete(key);
    });
    await subscriber.subscribe(this.#channel);
  }

  /** The current version of the email template for `messageType`, compiled. Throws when there is none. */
  async get(messageType: StoredMessageType, language = 'en'): Promise<ResolvedTemplate> {
    const key = this.#key(messageType, language);
    const entry = this.#memory.get(key);
    const recheckMs = this.#options.recheckMs ?? 30_000;
    if (entry && Date.now() - entry.checkedAt < recheckMs) return entry;
    const current = await currentTemplate(this.#options.db, { messageType, channel: 'email', language });
    if (!current) throw new Error(`no published email template for ${messageType} (${language}); run the email worker once to seed them`);
    if (entry && entry.version.id === current.id) {
      entry.checkedAt = Date.now();
      return entry;
    }
    let compiling = this.#compiling.get(current.id);
    if (!compiling) {
      compiling = this.#compile(current).finally(() => this.#compiling.delete(current.id));
      this.#compiling.set(current.id, compiling);
    }
    const compiled = await compiling;
    this.#memory.set(key, compiled);
    return compiled;
  }

  /** Drops every in-memory entry (tests; a process that wants to re-read everything). */
  clear(): void {
    this.#memory.clear();
  }

  async #compile(version: TemplateVersion): Promise<Entry> {
    const redisKey = `${this.#options.prefix ?? 'crm'}:template:${version.id}:html`;
    const redis = this.#options.redis;
    const cached = redis ? await redis.get(redisKey) : null;
    let html = cached;
    if (html === null) {
      html = await compileMjml({
        messageType: version.messageType, channel: 'email', language: 'en', subject: version.subject ?? '', mjml: version.body,
        text: version.textBody ?? '', requiredVariables: [...version.requiredVariables], sampleVariables: {},
      });
      // No expiry: the key names one immutable version.
      await redis?.set(redisKey, html);
    }
    const compiled = bindEmailTemplate(
      { messageType: version.messageType, subject: version.subject ?? '', text: version.textBody ?? '', requiredVariables: [...version.requiredVariables] },
      html,
    );
    return { version, compiled, checkedAt: Date.now() };
  }
}
