import { DateTime } from 'luxon';
import { defaultStrategySettings, digestItems, type StrategySettings } from '@crm/core';
import { CommunicationRepository, type CommunicationRow } from '@crm/db';
import { createRedisConnection } from '@crm/queue';
import { processDigest, startStrategyWorker, type StrategyWorker } from '@crm/strategy-worker';
import { createLogger } from '@crm/observability';
import { startPrivateRedis, testEnvironment, waitFor } from '@crm/testing';
import { startTestEngine, type TestEngine } from './support/engine';

// The strategy through real queues, PostgreSQL and the sandbox: quiet hours postpone to the
// window's opening (and survive a Redis loss), the frequency cap postpones instead of dropping,
// critical messages also go by email, and digests hold each item exactly once, even when items
// race the flush and two workers flush at once.

const timing = (overrides: Partial<StrategySettings['timing']> = {}): StrategySettings['timing'] => ({
  defaultQuietHours: null, channelWindows: {}, criticalBypassesQuietHours: true, frequencyCaps: {}, ...overrides,
});
const settings = (overrides: { timing?: StrategySettings['timing']; digest?: Partial<StrategySettings['digest']> } = {}): StrategySettings => ({
  defaults: defaultStrategySettings.defaults,
  timing: overrides.timing ?? timing(),
  digest: { enabled: true, windowMs: 60_000, maxItems: 10, ...overrides.digest },
});

/** A clock that reads `at` now and runs at real speed from there. */
function clockAt(at: DateTime): () => Date {
  const offset = at.toMillis() - Date.now();
  return () => new Date(Date.now() + offset);
}

/**
 * A clock that runs at real speed and is set later (`setTo`), once the engine is up: the
 * engine's start-up time, longer on a loaded machine, must not eat into a few seconds' margin.
 */
function settableClock(): { clock: () => Date; setTo(at: DateTime): void } {
  let offset = 0;
  return { clock: () => new Date(Date.now() + offset), setTo: (at) => { offset = at.toMillis() - Date.now(); } };
}

/** The real instant at which `clock` reads `at`. */
const realTimeOf = (clock: () => Date, at: DateTime) => at.toMillis() - (clock().getTime() - Date.now());

const logs = async (engine: TestEngine, id: string) => CommunicationRepository.listLogs(engine.t.db, id);
const row = async (engine: TestEngine, id: string) => (await CommunicationRepository.findById(engine.t.db, id)) as CommunicationRow;

describe('quiet hours', () => {
  // 07:59:57 in New York: inside the default quiet hours (21:00–08:00), three seconds before they end.
  const opening = DateTime.fromISO('2026-07-15T08:00:00', { zone: 'America/New_York' });
  const quiet = settings({ timing: timing({ defaultQuietHours: { start: '21:00', end: '08:00' } }) });

  it('postpones a message sent inside quiet hours to the opening of the window, in the client\'s time zone, and delivers it then', async () => {
    const { clock, setTo } = settableClock();
    const engine = await startTestEngine({ strategy: quiet, clock });
    try {
      setTo(opening.minus({ seconds: 3 }));
      const acceptedAt = Date.now();
      const id = await engine.send({ email: 'night-owl@example.com', timezone: 'America/New_York' });
      const scheduled = await waitFor(async () => {
        const current = await row(engine, id);
        return current.status === 'scheduled' ? current : undefined;
      });
      expect(scheduled.scheduled_for?.toISOString()).toBe(opening.toUTC().toISO());
      expect(scheduled.strategy_reason).toMatch(/postponed to 08:00 America\/New_York: now falls in quiet hours 21:00–08:00/);

      const sent = await engine.finished(id);
      expect(sent.status).toBe('sent');
      // Queued when the clock read 08:00 (within the wake-up tolerance of 1 s), not before:
      // about three real seconds after it was accepted.
      expect(sent.queued_at!.getTime()).toBeGreaterThanOrEqual(realTimeOf(clock, opening) - 1_000);
      expect(sent.sent_at!.getTime()).toBeGreaterThanOrEqual(acceptedAt + 1_900);
      expect(engine.sandbox.mailbox.list({ communicationId: id })).toHaveLength(1);
      expect((await logs(engine, id)).map((l) => [l.from_status, l.to_status])).toEqual(
        expect.arrayContaining([['pending', 'scheduled'], ['scheduled', 'queued'], ['sending', 'sent']]),
      );
    } finally {
      await engine.close();
    }
  });

  it('sends critical messages at once, and others at once outside quiet hours', async () => {
    const engine = await startTestEngine({ strategy: quiet, clock: clockAt(opening.minus({ hours: 3 })) });
    try {
      const critical = await engine.send({ email: 'urgent@example.com', timezone: 'America/New_York', urgency: 'critical' });
      expect(await engine.finished(critical)).toMatchObject({ status: 'sent', scheduled_for: null });
      expect((await row(engine, critical)).strategy_reason).toContain('critical: sent now, quiet hours do not apply');
    } finally {
      await engine.close();
    }
    const day = await startTestEngine({ strategy: quiet, clock: clockAt(opening.plus({ hours: 4 })) });
    try {
      const id = await day.send({ email: 'daytime@example.com', timezone: 'America/New_York' });
      expect(await day.finished(id)).toMatchObject({ status: 'sent', scheduled_for: null });
    } finally {
      await day.close();
    }
  });

  it('recovers a scheduled message whose delayed job Redis lost: the reconciler enqueues it again and it goes at the opening', async () => {
    const redis = await startPrivateRedis();
    const { clock, setTo } = settableClock();
    const engine = await startTestEngine({ strategy: quiet, clock, redisUrl: redis.url, reconcilerIntervalMs: 300, reconcilerGraceMs: 0 });
    try {
      setTo(opening.minus({ seconds: 4 }));
      const id = await engine.send({ email: 'lost-job@example.com', timezone: 'America/New_York' });
      await waitFor(async () => ((await row(engine, id)).status === 'scheduled' ? true : undefined));
      await redis.redis.flushall();
      const sent = await engine.finished(id, 20_000);
      expect(sent.status).toBe('sent');
      expect(sent.queued_at!.getTime()).toBeGreaterThanOrEqual(realTimeOf(clock, opening) - 1_000);
      expect(engine.sandbox.mailbox.list({ communicationId: id })).toHaveLength(1);
    } finally {
      await engine.close();
      await redis.stop();
    }
  });
});

describe('channel windows on fallback', () => {
  it('waits for the SMS window when a fallback reaches SMS before 08:00 local, instead of texting at night', async () => {
    const opening = DateTime.fromISO('2026-07-15T08:00:00', { zone: 'America/New_York' });
    const { clock, setTo } = settableClock();
    const engine = await startTestEngine({ messaging: true, clock, strategy: settings({ timing: timing({ channelWindows: { sms: { start: '08:00', end: '20:00' } } }) }) });
    try {
      setTo(opening.minus({ seconds: 3 }));
      await engine.fault('email', { errorCode: 550 });
      await engine.fault('whatsapp', { errorCode: 131026 });
      const id = await engine.send({ email: 'early@example.com', phone: '+14155550144', timezone: 'America/New_York' });
      const sent = await engine.finished(id);
      expect(sent).toMatchObject({ status: 'sent', channel: 'sms', channels_tried: ['email', 'whatsapp', 'sms'] });
      const toSms = (await logs(engine, id)).find((l) => l.event === 'fallback' && (l.detail as { to?: string }).to === 'sms');
      expect(toSms?.detail).toMatchObject({ from: 'whatsapp', to: 'sms', sendAt: opening.toUTC().toISO(), why: expect.stringContaining('the sms window 08:00–20:00') });
      expect(sent.sent_at!.getTime()).toBeGreaterThanOrEqual(realTimeOf(clock, opening) - 50);
    } finally {
      await engine.close();
    }
  });
});

describe('frequency cap', () => {
  it('postpones the fourth SMS in the window instead of dropping it, and sends it once the first leaves the window', async () => {
    const engine = await startTestEngine({
      messaging: true,
      strategy: settings({ timing: timing({ frequencyCaps: { sms: { max: 3, windowMs: 4_000 } } }) }),
    });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) {
        ids.push(await engine.send({ clientId: 'capped', phone: '+14155550142', channel: 'sms' }));
        // One after the other, as a workflow would send them.
        if (i < 3) await engine.finished(ids[i]!);
      }
      const fourth = await waitFor(async () => {
        const current = await row(engine, ids[3]!);
        return current.status === 'scheduled' ? current : undefined;
      });
      const first = await row(engine, ids[0]!);
      expect(fourth.scheduled_for!.getTime()).toBe(first.sent_at!.getTime() + 4_000);
      expect(fourth.strategy_reason).toContain('the sms cap of 3 per 4 s is reached');
      const sent = await engine.finished(ids[3]!, 15_000);
      expect(sent.status).toBe('sent');
      expect(sent.sent_at!.getTime()).toBeGreaterThanOrEqual(first.sent_at!.getTime() + 4_000);
      expect(engine.sandbox.sms.list({ to: '+14155550142' })).toHaveLength(4);
    } finally {
      await engine.close();
    }
  });
});

describe('critical', () => {
  it('sends on the client\'s fastest channel and a copy by email, each once', async () => {
    const engine = await startTestEngine({ messaging: true });
    try {
      const id = await engine.send({ email: 'copy@example.com', phone: '+14155550143', urgency: 'critical', messageType: 'error_notification' });
      const original = await engine.finished(id);
      expect(original).toMatchObject({ status: 'sent', channel: 'sms', channel_plan: ['sms', 'whatsapp'] });
      expect(original.strategy_reason).toContain('critical: fastest channel sms, then whatsapp, and a copy by email');
      const copy = await waitFor(async () =>
        engine.t.db.selectFrom('crm_communications').selectAll().where('copy_of', '=', id).executeTakeFirst());
      expect(await engine.finished(copy.id)).toMatchObject({ status: 'sent', channel: 'email', requested_channel: 'email', urgency: 'critical' });
      expect(engine.sandbox.sms.list({ to: '+14155550143' })).toHaveLength(1);
      expect(engine.sandbox.mailbox.list({ communicationId: copy.id })).toHaveLength(1);
      await expect(engine.t.db.selectFrom('crm_communications').select('id').where('copy_of', 'is not', null).execute()).resolves.toHaveLength(1);
    } finally {
      await engine.close();
    }
  });
});

describe('digests', () => {
  const digestMessages = async (engine: TestEngine) =>
    engine.t.db.selectFrom('crm_communications').selectAll().where('message_type', '=', 'digest').orderBy('created_at').execute();

  it('sends five low-urgency messages for one client as one digest listing each, once the window closes', async () => {
    const engine = await startTestEngine({ strategy: settings({ digest: { windowMs: 1_500, maxItems: 10 } }) });
    try {
      const ids: string[] = [];
      for (let i = 1; i <= 5; i++) {
        ids.push(await engine.send({ clientId: 'digest-5', email: 'five@example.com', urgency: 'low', variables: { clientName: 'Ada', item: `marker-${i}` } }));
      }
      for (const id of ids) expect(await engine.finished(id)).toMatchObject({ status: 'batched' });
      const [digest, ...others] = await digestMessages(engine);
      expect(others).toHaveLength(0);
      expect(digestItems(digest!.variables).map((item) => item.communicationId)).toEqual(ids);
      expect(await engine.finished(digest!.id)).toMatchObject({ status: 'sent', channel: 'email' });
      const mail = await engine.sandbox.mailbox.messages({ to: 'five@example.com' });
      expect(mail).toHaveLength(1);
      expect(mail[0]!.subject).toBe('5 updates on your event plan');
      for (let i = 1; i <= 5; i++) expect(mail[0]!.text!.split(`marker-${i}`)).toHaveLength(2);
      for (const id of ids) {
        expect((await logs(engine, id)).at(-1)).toMatchObject({ from_status: 'scheduled', to_status: 'batched', detail: expect.objectContaining({ digestCommunicationId: digest!.id }) });
      }
      // Normal urgency never waits.
      const normal = await engine.send({ clientId: 'digest-5', email: 'five@example.com', urgency: 'normal' });
      expect(await engine.finished(normal)).toMatchObject({ status: 'sent', digest_id: null });
    } finally {
      await engine.close();
    }
  });

  it('sends a digest as soon as it is full, and the rest in the next one', async () => {
    const engine = await startTestEngine({ strategy: settings({ digest: { windowMs: 1_500, maxItems: 3 } }) });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) ids.push(await engine.send({ clientId: 'digest-full', email: 'full@example.com', urgency: 'low' }));
      for (const id of ids) expect(await engine.finished(id)).toMatchObject({ status: 'batched' });
      const digests = await digestMessages(engine);
      expect(digests.map((d) => digestItems(d.variables).length).sort()).toEqual([1, 3, 3]);
      expect(digests.flatMap((d) => digestItems(d.variables).map((item) => item.communicationId)).sort()).toEqual([...ids].sort());
    } finally {
      await engine.close();
    }
  });

  it('flushes a digest whose job Redis lost: the reconciler restores the job from the waiting items', async () => {
    const redis = await startPrivateRedis();
    const engine = await startTestEngine({ strategy: settings({ digest: { windowMs: 2_000, maxItems: 10 } }), redisUrl: redis.url, reconcilerIntervalMs: 300, reconcilerGraceMs: 0 });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push(await engine.send({ clientId: 'digest-lost', email: 'lost@example.com', urgency: 'low' }));
      await waitFor(async () => ((await Promise.all(ids.map((id) => row(engine, id)))).every((r) => r.status === 'scheduled') ? true : undefined));
      await redis.redis.flushall();
      for (const id of ids) expect(await engine.finished(id, 15_000)).toMatchObject({ status: 'batched' });
      const [digest, ...others] = await digestMessages(engine);
      expect(others).toHaveLength(0);
      expect(digestItems(digest!.variables).map((item) => item.communicationId)).toEqual(ids);
      expect(await engine.finished(digest!.id, 15_000)).toMatchObject({ status: 'sent' });
    } finally {
      await engine.close();
      await redis.stop();
    }
  });

  it('holds each item exactly once across digests when items race the flush and several workers flush at once', async () => {
    const strategy = settings({ digest: { windowMs: 200, maxItems: 4 } });
    const engine = await startTestEngine({ strategy, batchWindowMs: 0 });
    const logger = createLogger({ service: 'race', level: 'silent' });
    const extra: { worker: StrategyWorker; connection: ReturnType<typeof createRedisConnection> }[] = [];
    let racing = true;
    try {
      // Two more strategy workers on the same queues: three in all compete for items and flushes.
      for (let i = 0; i < 2; i++) {
        const connection = createRedisConnection({ url: testEnvironment().REDIS_URL!, role: 'worker' });
        const worker = startStrategyWorker({ db: engine.t.db, producer: engine.producer, logger, connection, prefix: engine.prefix, settings: strategy, reconcilerIntervalMs: null, deliverableChannels: ['email'] });
        await worker.ready();
        extra.push({ worker, connection });
      }
      const clients = ['race-a', 'race-b', 'race-c'];
      const ids: string[] = [];
      // 150 items in waves, while a fourth "worker" keeps flushing whatever digest is open.
      const flusher = (async () => {
        while (racing) {
          const open = await engine.t.db.selectFrom('crm_digests').select('id').where('status', '=', 'open').execute();
          await Promise.all(open.flatMap(({ id }) => [processDigest({ db: engine.t.db, producer: engine.producer, logger }, id), processDigest({ db: engine.t.db, producer: engine.producer, logger }, id)]));
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      })();
      for (let wave = 0; wave < 10; wave++) {
        ids.push(...(await Promise.all(Array.from({ length: 15 }, (_, i) =>
          engine.send({ clientId: clients[i % 3]!, email: `${clients[i % 3]!}@example.com`, urgency: 'low', variables: { item: `wave-${wave}-${i}` } })))));
        await new Promise((resolve) => setTimeout(resolve, 20 + wave * 7));
      }
      for (const id of ids) expect(await engine.finished(id, 20_000)).toMatchObject({ status: 'batched' });
      racing = false;
      await flusher;

      const digests = await digestMessages(engine);
      const listed = digests.flatMap((d) => digestItems(d.variables).map((item) => item.communicationId));
      expect(listed).toHaveLength(ids.length);
      expect(new Set(listed)).toEqual(new Set(ids));
      // Each digest belongs to one client and lists only that client's items.
      const owner = new Map((await engine.t.db.selectFrom('crm_communications').select(['id', 'client_id']).where('id', 'in', ids).execute()).map((r) => [r.id, r.client_id]));
      for (const digest of digests) {
        expect(digestItems(digest.variables).every((item) => owner.get(item.communicationId) === digest.client_id)).toBe(true);
        expect(digestItems(digest.variables).length).toBeLessThanOrEqual(strategy.digest.maxItems);
      }
      // And what reached the mailboxes: every item's marker exactly once.
      await Promise.all(digests.map((d) => engine.finished(d.id, 20_000)));
      const texts = (await engine.sandbox.mailbox.messages()).map((m) => m.text ?? '').join('\n');
      for (let wave = 0; wave < 10; wave++) {
        for (let i = 0; i < 15; i++) expect(texts.split(new RegExp(`wave-${wave}-${i}\\b`)).length - 1).toBe(1);
      }
    } finally {
      racing = false;
      for (const { worker, connection } of extra) {
        await worker.close();
        await connection.quit().catch(() => undefined);
      }
      await engine.close();
    }
  });
});
