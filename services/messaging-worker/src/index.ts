export * from './render-plain-text';
export * from './senders';
export * from './messaging-worker';
export * from './service';
