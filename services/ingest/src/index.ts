export * from './app';
export * from './ingest';
export * from './problem';
export * from './service';
