import { ProviderError } from '@crm/providers';

/** The `ProviderError` a call rejected with; anything else (or no rejection) fails the test. */
export async function thrown(promise: Promise<unknown>): Promise<ProviderError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ProviderError) return error;
    throw error;
  }
  throw new Error('expected a ProviderError');
}
