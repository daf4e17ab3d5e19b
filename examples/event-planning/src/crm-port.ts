/**
 * What the workflow needs of the engine: the part of the SDK's `CrmClient`
 * (`createCrmClient({ baseUrl, apiKey })` from `@crm/client`) its nodes call. Any `CrmClient`
 * fits; a test may give something else of this shape.
 */
export interface WorkflowCrm {
  /** `POST /api/crm/communications`; the same idempotency key returns the first communication. */
  send(request: WorkflowCommunicationRequest): Promise<{ id: string; status: string }>;
  /** `POST /api/crm/attachments`. */
  uploadAttachment(upload: { filename: string; contentType: 'application/pdf'; data: Uint8Array }): Promise<{ id: string; size: number }>;
  /** `POST /api/crm/preferences`: the client's contact details, stored encrypted by the engine. */
  readonly preferences: { set(input: { clientId: string; email?: string; phone?: string; timezone?: string }): Promise<unknown> };
  /** `GET /api/crm/communications` filtered by plan and message type. */
  history(filters: { planId: string; messageType: WorkflowMessageType }): Promise<{ items: { id: string; status: string; channel: string | null }[] }>;
}

/** The message types the workflow sends. */
export type WorkflowMessageType = 'welcome' | 'budget_summary' | 'vendor_options' | 'selection_confirmation' | 'blueprint_delivery' | 'error_notification';

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** The request the nodes make (a subset of the SDK's `CommunicationRequest`). */
export interface WorkflowCommunicationRequest {
  clientId: string;
  planId: string;
  messageType: WorkflowMessageType;
  urgency?: 'low' | 'normal' | 'high' | 'critical';
  variables: { [key: string]: Json };
  idempotencyKey: string;
  metadata: { [key: string]: Json };
  attachments?: string[];
}
