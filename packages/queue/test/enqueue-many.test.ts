import { randomUUID } from 'node:crypto';
import { defaultJobOptions } from '@crm/queue';
import { testProducerPerFile } from '@crm/testing';

const q = testProducerPerFile();

describe('QueueProducer.enqueueMany', () => {
  it('adds every job under its derived id with the default options, once however often it is called', async () => {
    const ids = Array.from({ length: 100 }, () => randomUUID());
    const jobIds = await q.producer.enqueueMany('crm.requests', ids.map((communicationId) => ({ communicationId })));
    expect(jobIds).toEqual(ids.map((id) => `${id}.request`));
    await q.producer.enqueueMany('crm.requests', ids.slice(0, 10).map((communicationId) => ({ communicationId })));
    const queue = q.producer.queue('crm.requests');
    expect(await queue.getJobCountByTypes('waiting')).toBe(100);
    const job = await queue.getJob(`${ids[42]}.request`);
    expect(job?.data).toEqual({ communicationId: ids[42] });
    expect(job?.opts.attempts).toBe(defaultJobOptions.attempts);
  });

  it('validates every item before adding any', async () => {
    const queue = q.producer.queue('crm.email');
    await expect(
      q.producer.enqueueMany('crm.email', [{ communicationId: randomUUID(), attempt: 1 }, { communicationId: 'nope', attempt: 1 }]),
    ).rejects.toThrow();
    expect(await queue.getJobCountByTypes('waiting', 'delayed')).toBe(0);
  });

  it('does nothing for an empty list', async () => {
    expect(await q.producer.enqueueMany('crm.requests', [])).toEqual([]);
  });
});
