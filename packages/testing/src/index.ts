export * from './test-database';
export * from './test-environment';
export * from './test-redis';
export * from './wait-for';
export * from './test-api-key';
export * from './private-redis';
export * from './busiest-window';
