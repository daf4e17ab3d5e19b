export * from './provider-error';
export * from './email-transport';
export * from './smtp-transport';
