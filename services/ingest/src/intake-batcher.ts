import type { Kysely } from 'kysely';
import type { PreferencesCache } from '@crm/delivery';
import { acceptCommunications, type Database, type IntakeItem, type IntakeRecipient, type IntakeResult, type NewCommunication, type PiiKeys } from '@crm/db';

interface Entry extends IntakeItem {
  readonly resolve: (result: IntakeResult) => void;
  readonly reject: (error: unknown) => void;
}

interface Group {
  readonly entries: Entry[];
  /** Client → idempotency key of its entry that stores contact details. */
  readonly storing: Map<string, string | null>;
}

/**
 * Group commit for `POST /api/crm/communications`: the requests validated during one turn of
 * the event loop are stored with one statement (`acceptCommunications`), so concurrent
 * requests share its round trip, parse and commit instead of paying one each. Every request
 * still gets its own outcome. Two requests that would both store contact details of one client
 * go into separate statements, run one after the other. A request alone waits for nothing more
 * than a `setImmediate`. Once a statement has stored contact details, the routing preferences
 * of those clients are invalidated in the cache (one call per statement) before any of its
 * requests gets its outcome, so that the strategy never reads the old ones for them.
 */
export class IntakeBatcher {
  readonly #db: Kysely<Database>;
  readonly #keys: PiiKeys;
  readonly #maxGroup: number;
  readonly #preferencesCache: PreferencesCache | undefined;
  #groups: Group[] = [];

  constructor(db: Kysely<Database>, keys: PiiKeys, options: { readonly maxGroup?: number; readonly preferencesCache?: PreferencesCache } = {}) {
    this.#db = db;
    this.#keys = keys;
    this.#maxGroup = options.maxGroup ?? 64;
    this.#preferencesCache = options.preferencesCache;
  }

  accept(input: NewCommunication, recipient: IntakeRecipient | null): Promise<IntakeResult> {
    return new Promise<IntakeResult>((resolve, reject) => {
      if (this.#groups.length === 0) setImmediate(() => void this.#flush());
      const stores = recipient !== null && (recipient.email !== undefined || recipient.phone !== undefined || recipient.timezone !== undefined);
      const fits = (group: Group) =>
        group.entries.length < this.#maxGroup &&
        (!stores || !group.storing.has(input.clientId) || (input.idempotencyKey !== null && group.storing.get(input.clientId) === input.idempotencyKey));
      let group = this.#groups.find(fits);
      if (!group) {
        group = { entries: [], storing: new Map() };
        this.#groups.push(group);
      }
      group.entries.push({ input, recipient, resolve, reject });
      if (stores) group.storing.set(input.clientId, input.idempotencyKey);
    });
  }

  async #flush(): Promise<void> {
    const groups = this.#groups;
    this.#groups = [];
    for (const { entries, storing } of groups) {
      try {
        const results = await acceptCommunications(this.#db, this.#keys, entries);
        // Committed (one auto-committed statement); invalidate never throws.
        if (storing.size > 0) await this.#preferencesCache?.invalidate([...storing.keys()]);
        entries.forEach((entry, n) => entry.resolve(results[n]!));
      } catch (error) {
        for (const entry of entries) entry.reject(error);
      }
    }
  }
}
