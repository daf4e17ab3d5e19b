import { Command, type StateSnapshot } from '@langchain/langgraph';
import { PostgresSaver } from '@langchain/langgraph-checkpoint-postgres';
import pg from 'pg';
import type { Vendor } from './catalogue';
import type { WorkflowCrm } from './crm-port';
import { selectionOf, type WorkflowEvent } from './events';
import { buildWorkflowGraph, type SelectionAnswer, type WorkflowGraph } from './graph';
import type { CommunicationEntry, PlanRecipient, WorkflowUpdate, WorkflowValues } from './state';

/** A pino logger fits; the default writes nothing. */
export interface WorkflowLogger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

const silent: WorkflowLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** A new plan: who the client is and what the event is. */
export interface PlanInput {
  /** Unique across the engine (it prefixes the messages' idempotency keys); the workflow's thread id. */
  readonly planId: string;
  readonly clientId: string;
  readonly clientName: string;
  readonly eventName: string;
  /** ISO date, e.g. `2026-09-12`. */
  readonly eventDate: string;
  readonly guestCount: number;
  readonly budgetTotal: number;
  /** @defaultValue 'USD' */
  readonly currency?: string;
  /** @defaultValue 'Jordan Reyes' */
  readonly plannerName?: string;
  /** The vendor category to shortlist. @defaultValue 'Venue' */
  readonly vendorCategory?: string;
  /**
   * Contact details: stored with the client's preferences through the API (encrypted by the
   * engine) before the plan starts; they are never part of the workflow's state or checkpoints.
   */
  readonly recipient?: PlanRecipient;
  /** `failVendorSearch: true` makes the vendor search fail (to see error_handler at work). */
  readonly flags?: { readonly failVendorSearch?: boolean };
}

/** A plan as its latest checkpoint has it. */
export interface PlanSnapshot {
  readonly planId: string;
  readonly values: WorkflowValues;
  /** The nodes to run next (`['client_selection']` while it waits for the client). */
  readonly next: readonly string[];
  /** Waiting in `client_selection` for the client's choice. */
  readonly waitingForClient: boolean;
  /** Nothing left to run (the graph reached END). */
  readonly done: boolean;
}

/** What became of an event. */
export interface EventResult {
  readonly outcome: 'applied' | 'resumed' | 'duplicate' | 'ignored';
  readonly planId: string | null;
  /** Why it was ignored. */
  readonly reason?: string;
}

/** What {@link WorkflowRunner.create} needs. */
export interface WorkflowRunnerOptions {
  /** The PostgreSQL the checkpoints go to (the engine's own is fine: the workflow keeps to `schema`). */
  readonly databaseUrl: string;
  readonly crm: WorkflowCrm;
  /** The schema of the checkpoints and the processed event ids. @defaultValue 'langgraph' */
  readonly schema?: string;
  readonly logger?: WorkflowLogger;
  readonly clock?: () => Date;
  readonly supportEmail?: string;
  readonly catalogue?: readonly Vendor[];
  /** Connections for checkpoints. @defaultValue 5 */
  readonly poolMax?: number;
}

const isCommunicationEvent = (event: WorkflowEvent): event is Extract<WorkflowEvent, { type: `communication.${string}` }> => event.type !== 'client.replied';

/**
 * Runs event-planning workflows: starts plans and feeds them the engine's events. The graph is
 * checkpointed in PostgreSQL (`PostgresSaver`, thread id = plan id), so a runner made in a new
 * process (new saver, new graph) picks up every plan where the last one left it, a plan waiting
 * for the client's choice included.
 *
 * One operation at a time per plan, across processes: each takes a PostgreSQL advisory lock on
 * the plan id, so an event never updates a thread while a step of it runs (which would fork the
 * thread's checkpoints). Event ids are recorded in `<schema>.processed_events` in the same
 * critical section, after the event took effect: a redelivered event (even after a restart) is
 * a `duplicate`, and an event whose effect was applied but not recorded (a crash in between)
 * applies again harmlessly (merging a status is idempotent; a plan no longer waiting ignores a
 * second answer).
 *
 * @example
 * const runner = await WorkflowRunner.create({ databaseUrl, crm: createCrmClient({ baseUrl, apiKey }) });
 * await runner.startPlan({ planId: 'plan-7', clientId: 'client-42', … });
 * await runner.handleEvent(verifiedEvent); // client.replied → resumes plan-7
 */
export class WorkflowRunner {
  readonly graph: WorkflowGraph;
  readonly schema: string;
  readonly #saver: PostgresSaver;
  readonly #locks: pg.Pool;
  readonly #pool: pg.Pool;
  readonly #logger: WorkflowLogger;
  readonly #crm: WorkflowCrm;
  readonly #inflight = new Set<Promise<unknown>>();
  #closed = false;

  private constructor(options: WorkflowRunnerOptions, schema: string) {
    this.schema = schema;
    this.#logger = options.logger ?? silent;
    this.#crm = options.crm;
    this.#pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.poolMax ?? 5, application_name: 'event-planning' });
    // Lock holders wait on their own pool, so they can never take every connection the checkpoints need.
    this.#locks = new pg.Pool({ connectionString: options.databaseUrl, max: 4, application_name: 'event-planning-locks' });
    this.#saver = new PostgresSaver(this.#pool, undefined, { schema });
    this.graph = buildWorkflowGraph({
      crm: options.crm, checkpointer: this.#saver,
      ...(options.clock && { clock: options.clock }),
      ...(options.supportEmail && { supportEmail: options.supportEmail }),
      ...(options.catalogue && { catalogue: options.catalogue }),
    });
  }

  /** A runner whose checkpoint tables exist (created on first use; several processes may start at once). */
  static async create(options: WorkflowRunnerOptions): Promise<WorkflowRunner> {
    const schema = options.schema ?? 'langgraph';
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`schema: must be a lower-case SQL identifier, got ${JSON.stringify(schema)}`);
    const runner = new WorkflowRunner(options, schema);
    try {
      await runner.#locked('event-planning:setup', async () => {
        await runner.#pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
        await runner.#saver.setup();
        await runner.#pool.query(`CREATE TABLE IF NOT EXISTS ${schema}.processed_events (
          event_id text PRIMARY KEY,
          event_type text NOT NULL,
          plan_id text,
          outcome text NOT NULL,
          processed_at timestamptz NOT NULL DEFAULT now())`);
      });
    } catch (error) {
      await runner.close();
      throw error;
    }
    return runner;
  }

  static #config(planId: string) {
    return { configurable: { thread_id: planId } };
  }

  /**
   * Starts a plan and runs it until it waits for the client (or ends). Idempotent: a plan that
   * exists is not started again; one whose process stopped in the middle of a step continues.
   */
  startPlan(input: PlanInput): Promise<PlanSnapshot> {
    return this.#track(this.#locked(`event-planning:${input.planId}`, async () => {
      const config = WorkflowRunner.#config(input.planId);
      const current = await this.graph.getState(config);
      if (current.createdAt) {
        if (current.next.length > 0 && !this.#waiting(current)) {
          this.#logger.info({ planId: input.planId, next: current.next }, 'plan continues where it stopped');
          await this.graph.invoke(null, config);
        }
      } else {
        const { email, phone, timezone } = input.recipient ?? {};
        if (email !== undefined || phone !== undefined || timezone !== undefined) {
          await this.#crm.preferences.set({ clientId: input.clientId, ...(email !== undefined && { email }), ...(phone !== undefined && { phone }), ...(timezone !== undefined && { timezone }) });
        }
        const initial: WorkflowUpdate = {
          planId: input.planId, clientId: input.clientId, clientName: input.clientName, eventName: input.eventName, eventDate: input.eventDate,
          guestCount: input.guestCount, budgetTotal: input.budgetTotal, currency: input.currency ?? 'USD',
          ...(input.plannerName && { plannerName: input.plannerName }), ...(input.vendorCategory && { vendorCategory: input.vendorCategory }),
          flags: input.flags ?? {},
        };
        this.#logger.info({ planId: input.planId }, 'plan started');
        await this.graph.invoke(initial, config);
      }
      return this.#snapshotOf(input.planId, await this.graph.getState(config));
    }));
  }

  /**
   * The plan as its latest checkpoint has it, or `null` for a plan never started. Read between
   * operations (under the plan's lock): never in the middle of a step, whose finished writes
   * would show in the values before its checkpoint exists.
   */
  getPlan(planId: string): Promise<PlanSnapshot | null> {
    return this.#track(this.#locked(`event-planning:${planId}`, async () => {
      const state = await this.graph.getState(WorkflowRunner.#config(planId));
      return state.createdAt ? this.#snapshotOf(planId, state) : null;
    }));
  }

  /**
   * Applies a verified event: `communication.*` merges the message's status, channel and
   * channels tried into `communications` (`graph.updateState`); `client.replied` resumes the
   * plan waiting in `client_selection` with `new Command({ resume: { selection } })`. An event
   * seen before is a `duplicate`; one for no known plan, a plan not waiting, or a reply that
   * names no offered option is `ignored` (and not retried).
   */
  handleEvent(event: WorkflowEvent): Promise<EventResult> {
    const metadataPlan = isCommunicationEvent(event) && typeof event.data.metadata.planId === 'string' ? event.data.metadata.planId : null;
    const planId = event.data.planId ?? metadataPlan;
    if (!planId) {
      return this.#track((async () => {
        const fresh = await this.#record(event, null, 'ignored');
        return fresh ? { outcome: 'ignored' as const, planId: null, reason: 'the event names no plan' } : { outcome: 'duplicate' as const, planId: null };
      })());
    }
    return this.#track(this.#locked(`event-planning:${planId}`, async () => {
      const seen = await this.#pool.query('SELECT 1 FROM ' + this.schema + '.processed_events WHERE event_id = $1', [event.id]);
      if (seen.rowCount) return { outcome: 'duplicate' as const, planId };
      const result = await this.#apply(event, planId);
      await this.#record(event, planId, result.outcome);
      this.#logger.info({ eventId: event.id, type: event.type, planId, outcome: result.outcome, reason: result.reason }, 'event handled');
      return result;
    }));
  }

  async #apply(event: WorkflowEvent, planId: string): Promise<EventResult> {
    const config = WorkflowRunner.#config(planId);
    const state = await this.graph.getState(config);
    if (!state.createdAt) return { outcome: 'ignored', planId, reason: 'no such plan' };
    if (isCommunicationEvent(event)) {
      const { data } = event;
      const entry: CommunicationEntry = {
        id: data.communicationId, type: data.messageType, channel: data.channel, status: data.status,
        node: typeof data.metadata.node === 'string' ? data.metadata.node : 'unknown',
        channelsTried: data.channelsTried, failureReason: data.failureReason, updatedAt: data.at,
      };
      await this.graph.updateState(config, { communications: [entry] });
      return { outcome: 'applied', planId };
    }
    const values = state.values as WorkflowValues;
    if (!this.#waiting(state)) return { outcome: 'ignored', planId, reason: `the plan is not waiting for a selection (stage ${values.stage})` };
    const selection = selectionOf(event.data);
    if (selection === null) return { outcome: 'ignored', planId, reason: 'the reply names no option' };
    if (selection < 1 || selection > values.vendorOptions.length) return { outcome: 'ignored', planId, reason: `no option ${selection} among ${values.vendorOptions.length}` };
    const answer: SelectionAnswer = { selection, channel: event.data.channel, eventId: event.id, at: event.data.at };
    await this.graph.invoke(new Command({ resume: answer }), config);
    return { outcome: 'resumed', planId };
  }

  /** Waiting in client_selection (its interrupt, or a status merged in since: the node is still next). */
  #waiting(state: StateSnapshot): boolean {
    return state.next.includes('client_selection') && (state.values as WorkflowValues).stage === 'awaiting_selection';
  }

  #snapshotOf(planId: string, state: StateSnapshot): PlanSnapshot {
    // A step whose writes are stored but whose checkpoint is not yet (read while a run goes on) is still a task.
    return { planId, values: state.values as WorkflowValues, next: [...state.next], waitingForClient: this.#waiting(state), done: state.next.length === 0 && state.tasks.length === 0 };
  }

  /** Records an event id; `false` when it was recorded before. */
  async #record(event: WorkflowEvent, planId: string | null, outcome: string): Promise<boolean> {
    const result = await this.#pool.query(
      `INSERT INTO ${this.schema}.processed_events (event_id, event_type, plan_id, outcome) VALUES ($1, $2, $3, $4) ON CONFLICT (event_id) DO NOTHING`,
      [event.id, event.type, planId, outcome],
    );
    return result.rowCount === 1;
  }

  /** Runs `work` holding the advisory lock `key` (a session lock on a connection of its own, freed if the process dies). */
  async #locked<T>(key: string, work: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new Error('the workflow runner is closed');
    const client = await this.#locks.connect();
    let broken = false;
    try {
      await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [key]);
      try {
        return await work();
      } finally {
        await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [key]).catch(() => {
          broken = true;
        });
      }
    } finally {
      client.release(broken);
    }
  }

  #track<T>(work: Promise<T>): Promise<T> {
    this.#inflight.add(work);
    const done = () => this.#inflight.delete(work);
    work.then(done, done);
    return work;
  }

  /** Waits for the operations under way, then closes the connections. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#inflight]);
    await this.#saver.end().catch(() => undefined);
    await this.#locks.end().catch(() => undefined);
  }
}
