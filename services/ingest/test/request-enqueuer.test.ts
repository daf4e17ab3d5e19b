import { randomUUID } from 'node:crypto';
import { RequestEnqueuer } from '@crm/ingest';
import { testProducerPerFile } from '@crm/testing';

const q = testProducerPerFile();

describe('RequestEnqueuer', () => {
  it('adds one job per id, however many arrive in one turn', async () => {
    const enqueuer = new RequestEnqueuer(q.producer);
    const ids = Array.from({ length: 50 }, () => randomUUID());
    await Promise.all(ids.map((id) => enqueuer.enqueue(id)));
    await enqueuer.enqueue(ids[0]!); // again: the same derived job id, still one job
    const queue = q.producer.queue('crm.requests');
    expect(await queue.getJobCountByTypes('waiting')).toBe(50);
    for (const id of [ids[0]!, ids[49]!]) expect((await queue.getJob(`${id}.request`))?.data).toEqual({ communicationId: id });
  });

  it('rejects every caller of a flush that fails', async () => {
    const enqueuer = new RequestEnqueuer(q.producer);
    const results = await Promise.allSettled([enqueuer.enqueue(randomUUID()), enqueuer.enqueue('not-a-uuid')]);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected']);
  });
});
