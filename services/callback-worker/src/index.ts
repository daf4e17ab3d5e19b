export * from './callback-worker';
export * from './service';
