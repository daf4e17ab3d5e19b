import { END, START, StateGraph, interrupt, isGraphBubbleUp, type BaseCheckpointSaver } from '@langchain/langgraph';
import { beamSearchVendors, formatMoney, vendorCatalogue, type Vendor } from './catalogue';
import { blueprintPdf } from './blueprint-pdf';
import type { WorkflowCommunicationRequest, WorkflowCrm, WorkflowMessageType } from './crm-port';
import { WorkflowState, type BudgetCategory, type ClientChoice, type CommunicationEntry, type WorkflowUpdate, type WorkflowValues } from './state';

/** The graph's nodes, in the order a plan goes through them. */
export const workflowNodes = ['initialize_planning', 'budget_allocation', 'beam_search', 'present_options', 'client_selection', 'blueprint_generation', 'error_handler'] as const;
/** A node's name. */
export type WorkflowNode = (typeof workflowNodes)[number];

/** What `client_selection`'s `interrupt()` shows while it waits. */
export interface SelectionQuestion {
  readonly question: 'vendor_selection';
  readonly planId: string;
  readonly options: readonly { readonly number: number; readonly name: string }[];
}

/** What resumes `client_selection`: `new Command({ resume: { selection: 2, … } })`. */
export interface SelectionAnswer {
  readonly selection: number;
  readonly channel?: string | null;
  readonly eventId?: string | null;
  readonly at?: string;
}

/** What {@link buildWorkflowGraph} needs. */
export interface WorkflowGraphDeps {
  /** The engine, through the SDK. */
  readonly crm: WorkflowCrm;
  /** Where checkpoints go (the PostgreSQL checkpointer; `MemorySaver` in a unit test). */
  readonly checkpointer: BaseCheckpointSaver;
  /** Where the error notification tells the client to write. @defaultValue 'support@eventplanner.example.com' */
  readonly supportEmail?: string;
  /** @defaultValue () => new Date() */
  readonly clock?: () => Date;
  /** The vendor catalogue. @defaultValue {@link vendorCatalogue} */
  readonly catalogue?: readonly Vendor[];
}

/** How the budget is split (the shares add up to 1). */
const budgetShares: readonly [string, number][] = [['Venue', 0.4], ['Catering', 0.3], ['Photography', 0.12], ['Flowers & decor', 0.1], ['Music', 0.08]];

/** What the client reads when a step failed: no internals, just which step. */
const failureSummaries: Record<WorkflowNode, string> = {
  initialize_planning: 'We could not open your event plan.',
  budget_allocation: 'We could not prepare the budget summary for your event.',
  beam_search: 'We could not search our vendor catalogue for your event.',
  present_options: 'We could not send you the vendor options for your event.',
  client_selection: 'We could not confirm the vendor you chose.',
  blueprint_generation: 'We could not prepare the blueprint of your event.',
  error_handler: 'Something went wrong with your event plan.',
};

/** `2026-09-12` → `Saturday, 12 September 2026` (the date as the client reads it). */
export function longDate(isoDate: string): string {
  const date = new Date(`${isoDate}T12:00:00Z`);
  if (Number.isNaN(date.getTime())) return isoDate;
  return new Intl.DateTimeFormat('en-GB', { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' }).format(date);
}

/** The budget split across categories; rounding goes to the first category, so the lines add up to the total. */
export function allocateBudget(total: number): BudgetCategory[] {
  const lines = budgetShares.map(([name, share]) => ({ name, amount: Math.floor(total * share) }));
  const rest = total - lines.reduce((sum, line) => sum + line.amount, 0);
  lines[0] = { name: lines[0]!.name, amount: lines[0]!.amount + rest };
  return lines;
}

/**
 * Builds and compiles the event-planning StateGraph:
 *
 * initialize_planning → budget_allocation → beam_search → present_options → client_selection
 * (waits in `interrupt()` for the client's choice) → blueprint_generation → END, and from any of
 * them to error_handler → END when it fails.
 *
 * Every message is sent with an idempotency key made of the plan id and the message type, so a
 * node that runs again (a resume re-runs the waiting node from its start; a crashed process
 * re-runs the step it was in) gets the communication it made the first time instead of a
 * second message. Each carries `metadata: { planId, node }`, which the engine returns in every
 * `communication.*` event.
 *
 * @example
 * const graph = buildWorkflowGraph({ crm, checkpointer });
 * await graph.invoke(planInput('plan-7', client), { configurable: { thread_id: 'plan-7' } });
 */
export function buildWorkflowGraph(deps: WorkflowGraphDeps) {
  const clock = deps.clock ?? (() => new Date());
  const supportEmail = deps.supportEmail ?? 'support@eventplanner.example.com';

  const send = async (
    state: WorkflowValues,
    node: WorkflowNode,
    messageType: WorkflowMessageType,
    variables: WorkflowCommunicationRequest['variables'],
    extra: Partial<Pick<WorkflowCommunicationRequest, 'attachments' | 'urgency' | 'idempotencyKey'>> & { metadata?: WorkflowCommunicationRequest['metadata'] } = {},
  ): Promise<WorkflowUpdate> => {
    const { metadata, ...rest } = extra;
    const { id, status } = await deps.crm.send({
      clientId: state.clientId,
      planId: state.planId,
      messageType,
      variables,
      idempotencyKey: `${state.planId}:${messageType}`,
      ...rest,
      metadata: { planId: state.planId, node, ...metadata },
    });
    const at = clock().toISOString();
    const entry: CommunicationEntry = { id, type: messageType, channel: null, status, node, channelsTried: [], failureReason: null, updatedAt: at };
    return { communications: [entry], last_communication_at: at };
  };

  const nodes: Record<WorkflowNode, (state: WorkflowValues) => Promise<WorkflowUpdate>> = {
    async initialize_planning(state) {
      const sent = await send(state, 'initialize_planning', 'welcome', { clientName: state.clientName, eventName: state.eventName, plannerName: state.plannerName });
      return { ...sent, stage: 'planning' };
    },

    async budget_allocation(state) {
      const categories = allocateBudget(state.budgetTotal);
      const sent = await send(state, 'budget_allocation', 'budget_summary', {
        clientName: state.clientName, eventName: state.eventName, total: state.budgetTotal, currency: state.currency,
        categories: categories.map((category) => ({ name: category.name, amount: category.amount })),
      });
      return { ...sent, budgetCategories: categories };
    },

    async beam_search(state) {
      if (state.flags.failVendorSearch) throw new Error('vendor catalogue unavailable (failVendorSearch)');
      const budget = state.budgetCategories.find((category) => category.name === state.vendorCategory)?.amount ?? state.budgetTotal;
      const vendorOptions = beamSearchVendors(
        { category: state.vendorCategory, budget, guestCount: state.guestCount, currency: state.currency },
        { catalogue: deps.catalogue ?? vendorCatalogue },
      );
      return { vendorOptions };
    },

    async present_options(state) {
      const sent = await send(state, 'present_options', 'vendor_options', {
        clientName: state.clientName, eventName: state.eventName,
        vendors: state.vendorOptions.map((vendor) => ({ name: vendor.name, category: vendor.category, price: formatMoney(vendor.price, vendor.currency), url: vendor.url })),
      }, { metadata: { expectsReply: true } });
      return { ...sent, stage: 'awaiting_selection' };
    },

    async client_selection(state) {
      // Everything above this line runs again when the thread resumes: nothing here has effects.
      const question: SelectionQuestion = {
        question: 'vendor_selection', planId: state.planId,
        options: state.vendorOptions.map((vendor, index) => ({ number: index + 1, name: vendor.name })),
      };
      const answer = interrupt<SelectionQuestion, SelectionAnswer>(question);
      const vendor = state.vendorOptions[answer.selection - 1];
      if (!Number.isInteger(answer.selection) || !vendor) throw new Error(`selection ${String(answer.selection)} is not one of the ${state.vendorOptions.length} options`);
      const choice: ClientChoice = { selection: answer.selection, channel: answer.channel ?? null, eventId: answer.eventId ?? null, at: answer.at ?? clock().toISOString() };
      const sent = await send(state, 'client_selection', 'selection_confirmation', {
        clientName: state.clientName, eventName: state.eventName, vendorName: vendor.name, category: vendor.category, price: vendor.price, currency: vendor.currency,
      });
      return { ...sent, choice, selectedVendor: vendor, stage: 'generating_blueprint' };
    },

    async blueprint_generation(state) {
      // Sent before (this step ran and its process stopped before the checkpoint)? Then that is the message.
      const { items } = await deps.crm.history({ planId: state.planId, messageType: 'blueprint_delivery' });
      const existing = items[0];
      if (existing) {
        const at = clock().toISOString();
        return {
          communications: [{ id: existing.id, type: 'blueprint_delivery', channel: existing.channel, status: existing.status, node: 'blueprint_generation', channelsTried: [], failureReason: null, updatedAt: at }],
          last_communication_at: at, stage: 'completed',
        };
      }
      const vendor = state.selectedVendor;
      if (!vendor) throw new Error('no vendor was selected');
      const pdf = blueprintPdf({
        title: `Event blueprint: ${state.eventName}`,
        lines: [
          `Client: ${state.clientName}`, `Date: ${longDate(state.eventDate)}`, `Guests: ${state.guestCount}`, `Planner: ${state.plannerName}`,
          '# Budget',
          ...state.budgetCategories.map((category) => `${category.name}: ${formatMoney(category.amount, state.currency)}`),
          `Total: ${formatMoney(state.budgetTotal, state.currency)}`,
          '# Confirmed vendor',
          `${vendor.category}: ${vendor.name}, ${formatMoney(vendor.price, vendor.currency)} (${vendor.url})`,
          '# Timeline of the day',
          '14:00 Vendor set-up', '16:00 Guests arrive', '17:00 Ceremony', '18:30 Dinner', '21:00 Music and dancing', '23:30 Last guests leave',
          '# Checklist',
          '8 weeks before: send invitations', '4 weeks before: confirm the guest count', '1 week before: share this blueprint with helpers',
        ],
      });
      const filename = `blueprint-${state.planId}.pdf`.replace(/[^A-Za-z0-9_.-]/g, '-');
      const attachment = await deps.crm.uploadAttachment({ filename, contentType: 'application/pdf', data: pdf });
      const sent = await send(state, 'blueprint_generation', 'blueprint_delivery',
        { clientName: state.clientName, eventName: state.eventName, eventDate: longDate(state.eventDate) },
        { attachments: [attachment.id] });
      return { ...sent, blueprint: { attachmentId: attachment.id, filename, size: attachment.size }, stage: 'completed' };
    },

    async error_handler(state) {
      const failed = (state.failedNode ?? 'error_handler') as WorkflowNode;
      const sent = await send(state, 'error_handler', 'error_notification',
        { clientName: state.clientName, errorSummary: failureSummaries[failed] ?? failureSummaries.error_handler, supportEmail },
        { urgency: 'high', idempotencyKey: `${state.planId}:error_notification:${failed}`, metadata: { failedNode: failed } });
      return { ...sent, stage: 'failed', failedNode: null };
    },
  };

  /** A node whose failure is written to the state (and routed to error_handler), never thrown; interrupts pass through. */
  const guarded = (name: WorkflowNode) => async (state: WorkflowValues): Promise<WorkflowUpdate> => {
    try {
      return await nodes[name](state);
    } catch (error) {
      if (isGraphBubbleUp(error)) throw error;
      if (name === 'error_handler') throw error;
      const message = error instanceof Error ? error.message : String(error);
      return { failedNode: name, errors: [{ node: name, message, at: clock().toISOString() }] };
    }
  };
  const next = (to: WorkflowNode | typeof END) => (state: WorkflowValues) => (state.failedNode ? 'error_handler' : to);

  return new StateGraph(WorkflowState)
    .addNode('initialize_planning', guarded('initialize_planning'))
    .addNode('budget_allocation', guarded('budget_allocation'))
    .addNode('beam_search', guarded('beam_search'))
    .addNode('present_options', guarded('present_options'))
    .addNode('client_selection', guarded('client_selection'))
    .addNode('blueprint_generation', guarded('blueprint_generation'))
    .addNode('error_handler', guarded('error_handler'))
    .addEdge(START, 'initialize_planning')
    .addConditionalEdges('initialize_planning', next('budget_allocation'), ['budget_allocation', 'error_handler'])
    .addConditionalEdges('budget_allocation', next('beam_search'), ['beam_search', 'error_handler'])
    .addConditionalEdges('beam_search', next('present_options'), ['present_options', 'error_handler'])
    .addConditionalEdges('present_options', next('client_selection'), ['client_selection', 'error_handler'])
    .addConditionalEdges('client_selection', next('blueprint_generation'), ['blueprint_generation', 'error_handler'])
    .addConditionalEdges('blueprint_generation', next(END), [END, 'error_handler'])
    .addEdge('error_handler', END)
    .compile({ checkpointer: deps.checkpointer, name: 'event-planning' });
}

/** The compiled graph. */
export type WorkflowGraph = ReturnType<typeof buildWorkflowGraph>;
