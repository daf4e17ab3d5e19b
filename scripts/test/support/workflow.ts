import { randomBytes, randomUUID } from 'node:crypto';
import { createCrmClient, type CrmClient, type PreferencesInput } from '@crm/client';
import { startEventReceiver, WorkflowRunner, workflowEventTypes, type CommunicationEntry, type EventReceiver, type PlanInput, type PlanSnapshot } from '@crm/example-event-planning';
import { createTestApiKey, waitFor } from '@crm/testing';
import type { TestEngine } from './engine';

// The event-planning workflow's process in the end-to-end tests (examples/event-planning): its
// runner (PostgreSQL checkpointer + graph) and its signed-event receiver, subscribed to the
// engine's callbacks through the SDK.

/** The workflow's process: a runner (saver + graph) and its event receiver, subscribed to the engine's events. */
export class Workflow {
  private constructor(readonly engine: TestEngine, readonly crm: CrmClient, readonly secret: string, public runner: WorkflowRunner, public receiver: EventReceiver) {}

  static async start(engine: TestEngine): Promise<Workflow> {
    const { key } = await createTestApiKey(engine.t.db, 'event-planning');
    const crm = createCrmClient({ baseUrl: engine.ingestUrl!, apiKey: key });
    const secret = `whsec_${randomBytes(32).toString('base64url')}`;
    const runner = await WorkflowRunner.create({ databaseUrl: engine.t.url, crm });
    const receiver = await startEventReceiver({ runner, secret });
    await crm.callbacks.create({ url: receiver.url, events: [...workflowEventTypes], secret });
    return new Workflow(engine, crm, secret, runner, receiver);
  }

  /** A client with their preferences stored through the API, and a plan for them. */
  async client(preferences: Omit<PreferencesInput, 'clientId'>, plan: Partial<PlanInput> = {}): Promise<PlanInput> {
    const clientId = `client-${randomUUID()}`;
    await this.crm.preferences.set({ clientId, ...preferences });
    return {
      planId: `plan-${randomUUID()}`, clientId, clientName: 'Ada Lovelace', eventName: 'Summer gala', eventDate: '2026-09-12',
      guestCount: 120, budgetTotal: 18_500, currency: 'USD', ...plan,
    };
  }

  /** Stops the workflow's process (receiver, graph, saver and their connections): events sent meanwhile are refused and retried. */
  async stop(): Promise<number> {
    const port = Number(new URL(this.receiver.url).port);
    await this.receiver.close();
    await this.runner.close();
    return port;
  }

  /** A new process: a new saver and graph on the same database, a receiver on the subscribed URL. */
  async restart(port: number): Promise<void> {
    this.runner = await WorkflowRunner.create({ databaseUrl: this.engine.t.url, crm: this.crm });
    this.receiver = await startEventReceiver({ runner: this.runner, secret: this.secret, port });
  }

  waitForPlan(planId: string, done: (plan: PlanSnapshot) => boolean, message: string, timeoutMs = 30_000): Promise<PlanSnapshot> {
    return waitFor(async () => {
      const plan = await this.runner.getPlan(planId);
      return plan && done(plan) ? plan : undefined;
    }, { timeoutMs, intervalMs: 50, message: `plan ${planId}: ${message}` });
  }

  async close(): Promise<void> {
    await this.receiver.close();
    await this.runner.close();
  }
}

/** The workflow state's entry of a message type. */
export const entry = (plan: PlanSnapshot, type: string): CommunicationEntry | undefined => plan.values.communications.find((each) => each.type === type);
