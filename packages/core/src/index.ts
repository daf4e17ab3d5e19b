export * from './enums';
export * from './communication-status';
export * from './validators';
export * from './client-preferences';
export * from './communication-request';
export * from './communication-strategy';
export * from './communication-result';
export * from './request-hash';
