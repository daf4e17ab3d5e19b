export * from './queue-names';
export * from './job-data';
export * from './redis-connection';
export * from './producer';
export * from './worker';
export * from './shutdown';
export { UnrecoverableError, type Job } from 'bullmq';
