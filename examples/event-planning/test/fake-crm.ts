import { randomUUID } from 'node:crypto';
import type { WorkflowCommunicationRequest, WorkflowCrm } from '../src/crm-port';

/**
 * A stand-in for the engine's HTTP API in the graph's unit tests (the end-to-end tests in
 * scripts/test/event-planning*.test.ts use the real engine): it answers as ingest does,
 * including idempotency keys (the same key returns the first communication).
 */
export class FakeCrm implements WorkflowCrm {
  readonly sent: (WorkflowCommunicationRequest & { id: string })[] = [];
  readonly uploads: { id: string; filename: string; data: Uint8Array }[] = [];
  readonly contacts: { clientId: string; email?: string; phone?: string; timezone?: string }[] = [];
  readonly preferences = {
    set: async (input: { clientId: string; email?: string; phone?: string; timezone?: string }): Promise<unknown> => {
      await Promise.resolve();
      this.contacts.push(input);
      return input;
    },
  };
  /** Makes the next sends of this message type throw (as the SDK does when the engine refuses). */
  failing = new Set<string>();

  async send(request: WorkflowCommunicationRequest): Promise<{ id: string; status: string }> {
    if (this.failing.has(request.messageType)) throw new Error(`engine refused ${request.messageType}`);
    const existing = this.sent.find((each) => each.idempotencyKey === request.idempotencyKey);
    if (existing) return { id: existing.id, status: 'queued' };
    const id = randomUUID();
    this.sent.push({ ...request, id });
    return { id, status: 'pending' };
  }

  async uploadAttachment(upload: { filename: string; contentType: 'application/pdf'; data: Uint8Array }): Promise<{ id: string; size: number }> {
    const id = randomUUID();
    this.uploads.push({ id, filename: upload.filename, data: upload.data });
    return { id, size: upload.data.byteLength };
  }

  async history(filters: { planId: string; messageType: string }): Promise<{ items: { id: string; status: string; channel: string | null }[] }> {
    return { items: this.sent.filter((each) => each.planId === filters.planId && each.messageType === filters.messageType).map((each) => ({ id: each.id, status: 'pending', channel: null })) };
  }

  types(planId: string): string[] {
    return this.sent.filter((each) => each.planId === planId).map((each) => each.messageType);
  }
}
