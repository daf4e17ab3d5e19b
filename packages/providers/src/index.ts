export * from './provider-error';
export * from './email-transport';
export * from './smtp-transport';
export * from './http-failure';
export * from './messaging-transport';
export * from './twilio-client';
export * from './whatsapp-client';
export * from './webhook-signatures';
