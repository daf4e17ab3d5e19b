export * from './app';
export * from './auth';
export * from './operator';
export * from './request-enqueuer';
export * from './intake-batcher';
export * from './ingest';
export * from './problem';
export * from './service';
export { keywordAnswers, twiml } from './routes/webhooks';
