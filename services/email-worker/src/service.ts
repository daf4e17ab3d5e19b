import { channelWorkerDeps } from '@crm/delivery';
import { createSmtpTransport } from '@crm/providers';
import type { ServiceStart } from '@crm/runtime';
import { startEmailWorker } from './email-worker';

/** The email worker on a runtime, sending through the SMTP server of `config.smtp`. */
export const emailWorkerService: ServiceStart = async (runtime) => {
  const transport = createSmtpTransport(runtime.config.smtp);
  const deps = await channelWorkerDeps(runtime);
  const worker = startEmailWorker({ ...deps, transport });
  await worker.ready();
  return { stop: [() => worker.close(), () => transport.close(), async () => deps.breakers.shutdown()] };
};
