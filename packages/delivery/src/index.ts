export * from './breakers';
export * from './channel-jobs';
export * from './deliver-attempt';
export * from './writes';
export * from './channel-worker-deps';
export * from './template-store';
export * from './send-rate-limiter';
export * from './send-rate-limits';
