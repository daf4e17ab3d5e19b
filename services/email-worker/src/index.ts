export * from './render-plain-email';
export * from './process-email';
export * from './email-worker';
export * from './service';
