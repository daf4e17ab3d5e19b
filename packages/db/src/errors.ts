/** A history cursor that this engine did not produce, or that was altered. */
export class InvalidCursorError extends Error {
  readonly code = 'CRM_INVALID_CURSOR';
  constructor() {
    super('cursor is not one this API returned');
    this.name = 'InvalidCursorError';
  }
}
