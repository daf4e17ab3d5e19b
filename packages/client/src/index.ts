/**
 * @crm/client: the TypeScript SDK of crm-engine (docs/sdk.md). `createCrmClient` for the HTTP
 * API, `verifyCrmEvent` / `signCrmEvent` for the signed events the engine POSTs to callbacks.
 */
export { createCrmClient, type CrmClient, type CrmClientOptions, type SendOptions } from './client';
export { CrmApiError, CrmNetworkError, CrmSignatureError, type CrmSignatureFailure } from './errors';
export {
  CRM_EVENT_ID_HEADER,
  CRM_EVENT_TYPE_HEADER,
  CRM_SIGNATURE_HEADER,
  DEFAULT_SIGNATURE_TOLERANCE_SECONDS,
  signCrmEvent,
  verifyCrmEvent,
} from './signature';
export type * from './types';
