export * from './local-services';
export * from './dev-secrets';
export * from './demo';
