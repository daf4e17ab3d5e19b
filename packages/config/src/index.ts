export * from './config';
export { variables, parsers, type VariableSpec, type VariableName } from './variables';
export { renderEnvTemplate, renderConfigTable } from './env-template';
