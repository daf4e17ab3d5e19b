export * from './runtime';
export * from './ops-server';
