export * from './senders';
export * from './messaging-worker';
export * from './service';
