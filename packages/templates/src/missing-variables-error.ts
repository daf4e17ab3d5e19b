/**
 * A render lacked required variables (absent, `null` or a blank string). Names every missing one,
 * never a value.
 *
 * @example
 * try { template.render({ clientName: 'Ada' }, context); }
 * catch (error) { if (error instanceof MissingTemplateVariablesError) error.missing; } // ['eventName', 'plannerName']
 */
export class MissingTemplateVariablesError extends Error {
  readonly missing: readonly string[];
  readonly messageType: string;

  constructor(messageType: string, missing: readonly string[]) {
    super(`the ${messageType} email template is missing ${missing.length === 1 ? 'the variable' : 'the variables'} ${missing.join(', ')}`);
    this.name = this.constructor.name;
    this.messageType = messageType;
    this.missing = Object.freeze([...missing]);
  }
}
