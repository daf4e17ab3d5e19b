import { Annotation } from '@langchain/langgraph';
import type { Vendor } from './catalogue';

/** A message the workflow asked the engine for, as the workflow knows it. */
export interface CommunicationEntry {
  /** The engine's communication id. */
  readonly id: string;
  /** Its message type (`welcome`, `vendor_options`, …). */
  readonly type: string;
  /** The channel it went (or goes) on; `null` until the engine says. */
  readonly channel: string | null;
  /** Its status as last reported: the send's answer, then `communication.*` events. */
  readonly status: string;
  /** The node that sent it. */
  readonly node: string;
  /** Channels tried so far, in order (a fallback shows here: `['whatsapp', 'sms']`). */
  readonly channelsTried: readonly string[];
  /** Why it failed, when it did. */
  readonly failureReason: string | null;
  /** When the status was last set (the event's time), ISO 8601. */
  readonly updatedAt: string;
}

/** A node's failure, kept in the state. */
export interface WorkflowError {
  readonly node: string;
  readonly message: string;
  readonly at: string;
}

/** A budget line. */
export interface BudgetCategory {
  readonly name: string;
  readonly amount: number;
}

/** The client's choice, as the `client.replied` event brought it. */
export interface ClientChoice {
  /** 1-based option number. */
  readonly selection: number;
  readonly channel: string | null;
  readonly eventId: string | null;
  readonly at: string;
}

/** The blueprint uploaded to the engine. */
export interface BlueprintFile {
  readonly attachmentId: string;
  readonly filename: string;
  readonly size: number;
}

/** The client's contact details: handed to the engine (which stores them encrypted), never kept in the state. */
export interface PlanRecipient {
  readonly email?: string;
  readonly phone?: string;
  readonly timezone?: string;
}

/** Where the plan stands. */
export type PlanStage = 'planning' | 'awaiting_selection' | 'generating_blueprint' | 'completed' | 'failed';

/** The order of statuses on the way to the client; a report never moves an entry back along it. */
const progress = ['pending', 'scheduled', 'queued', 'sending', 'sent', 'delivered', 'opened', 'clicked', 'responded'];

/**
 * Merges reported communications into the list: a new id is appended; a known id takes a report
 * that moves it forward along pending → … → sent → delivered → opened → clicked → responded,
 * whenever it happened (a late `sent` never overwrites `delivered`; a `delivered` reported after
 * a node re-sent and got `sent` still counts). A failure (`failed`, `bounced`, `cancelled`), and
 * whatever follows one (a later `sent` on the next channel: a fallback after a late failure), is
 * taken only when it is at least as recent (`updatedAt`, the event's time) as what is known.
 */
export function mergeCommunications(current: readonly CommunicationEntry[], reported: readonly CommunicationEntry[]): CommunicationEntry[] {
  const merged = [...current];
  for (const report of reported) {
    const at = merged.findIndex((entry) => entry.id === report.id);
    if (at < 0) {
      merged.push(report);
      continue;
    }
    const known = merged[at]!;
    const from = progress.indexOf(known.status);
    const to = progress.indexOf(report.status);
    const newer = Date.parse(report.updatedAt) >= Date.parse(known.updatedAt);
    const applies = from >= 0 && to >= 0 ? to > from || (to === from && newer) : newer;
    const channelsTried = report.channelsTried.length > known.channelsTried.length ? report.channelsTried : known.channelsTried;
    merged[at] = applies
      ? { ...known, status: report.status, channel: report.channel ?? known.channel, channelsTried, failureReason: to >= 0 ? null : report.failureReason, updatedAt: newer ? report.updatedAt : known.updatedAt }
      : { ...known, channel: known.channel ?? report.channel, channelsTried };
  }
  return merged;
}

const lastValue = <T>(initial: () => T) => Annotation<T>({ reducer: (_current: T, update: T) => update, default: initial });

/**
 * The workflow's state, checkpointed after every step (PostgreSQL checkpointer, thread id = plan
 * id). `communications` is merged by id ({@link mergeCommunications}); `errors` is appended to;
 * everything else takes the last value written.
 */
export const WorkflowState = Annotation.Root({
  planId: lastValue<string>(() => ''),
  clientId: lastValue<string>(() => ''),
  clientName: lastValue<string>(() => ''),
  eventName: lastValue<string>(() => ''),
  /** ISO date (`2026-09-12`). */
  eventDate: lastValue<string>(() => ''),
  guestCount: lastValue<number>(() => 0),
  budgetTotal: lastValue<number>(() => 0),
  currency: lastValue<string>(() => 'USD'),
  plannerName: lastValue<string>(() => 'Jordan Reyes'),
  /** The category the vendor search shortlists. */
  vendorCategory: lastValue<string>(() => 'Venue'),
  /** Test switches: `failVendorSearch` makes the catalogue throw. */
  flags: lastValue<{ readonly failVendorSearch?: boolean }>(() => ({})),
  stage: lastValue<PlanStage>(() => 'planning'),
  budgetCategories: lastValue<BudgetCategory[]>(() => []),
  vendorOptions: lastValue<Vendor[]>(() => []),
  choice: lastValue<ClientChoice | null>(() => null),
  selectedVendor: lastValue<Vendor | null>(() => null),
  blueprint: lastValue<BlueprintFile | null>(() => null),
  communications: Annotation<CommunicationEntry[]>({ reducer: mergeCommunications, default: () => [] }),
  last_communication_at: lastValue<string | null>(() => null),
  /** The node that failed, while the error handler has not run. */
  failedNode: lastValue<string | null>(() => null),
  errors: Annotation<WorkflowError[]>({ reducer: (current: WorkflowError[], added: WorkflowError[]) => [...current, ...added], default: () => [] }),
});

/** The state's values. */
export type WorkflowValues = typeof WorkflowState.State;
/** What a node returns. */
export type WorkflowUpdate = typeof WorkflowState.Update;
