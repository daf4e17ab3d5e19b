/**
 * @crm/example-event-planning: an event-planning workflow (a LangGraph.js StateGraph with the
 * PostgreSQL checkpointer) that talks to its clients through crm-engine and is resumed by the
 * engine's signed events. See docs/workflow.md.
 */
export { beamSearchVendors, formatMoney, vendorCatalogue, vendorFit, type Vendor, type VendorQuery } from './catalogue';
export { blueprintPdf, type BlueprintContent } from './blueprint-pdf';
export type { WorkflowCommunicationRequest, WorkflowCrm, WorkflowMessageType } from './crm-port';
export { clientRepliedDataSchema, communicationEventDataSchema, selectionOf, workflowEventSchema, workflowEventTypes, type WorkflowEvent } from './events';
export { allocateBudget, buildWorkflowGraph, longDate, workflowNodes, type SelectionAnswer, type SelectionQuestion, type WorkflowGraph, type WorkflowGraphDeps, type WorkflowNode } from './graph';
export { startEventReceiver, type EventReceiver, type EventReceiverOptions } from './receiver';
export { WorkflowRunner, type EventResult, type PlanInput, type PlanSnapshot, type WorkflowLogger, type WorkflowRunnerOptions } from './runner';
export {
  mergeCommunications, WorkflowState,
  type BlueprintFile, type BudgetCategory, type ClientChoice, type CommunicationEntry, type PlanRecipient, type PlanStage, type WorkflowError, type WorkflowUpdate, type WorkflowValues,
} from './state';
