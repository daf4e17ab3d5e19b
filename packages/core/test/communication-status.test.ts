import {
  allowedSourcesOf,
  canTransition,
  communicationStatuses,
  isFinalStatus,
  statusTransitions,
  type CommunicationStatus,
} from '@crm/core';

const mainLine: CommunicationStatus[] = ['pending', 'scheduled', 'queued', 'sending', 'sent', 'delivered', 'opened', 'clicked', 'responded'];

describe('status machine', () => {
  it('walks the main line forward one step at a time', () => {
    for (let i = 0; i < mainLine.length - 1; i++) expect(canTransition(mainLine[i]!, mainLine[i + 1]!)).toBe(true);
  });

  it('never moves backwards along the main line, nor stays in place, except sending → queued (retry or fallback) and sent → queued (fallback after a late provider failure)', () => {
    for (let i = 0; i < mainLine.length; i++) {
      for (let j = 0; j <= i; j++) {
        const expected = (mainLine[i] === 'sending' || mainLine[i] === 'sent') && mainLine[j] === 'queued';
        expect([mainLine[i], mainLine[j], canTransition(mainLine[i]!, mainLine[j]!)]).toEqual([mainLine[i], mainLine[j], expected]);
      }
    }
  });

  it('lets a later engagement skip steps (email has no delivery receipt)', () => {
    expect(canTransition('sent', 'opened')).toBe(true);
    expect(canTransition('sent', 'clicked')).toBe(true);
    expect(canTransition('delivered', 'responded')).toBe(true);
    expect(canTransition('pending', 'queued')).toBe(true);
  });

  it.each([
    ['cancelled', ['pending', 'scheduled', 'queued']],
    ['failed', ['pending', 'scheduled', 'queued', 'sending', 'sent']],
    ['bounced', ['queued', 'sending', 'sent']],
  ] as const)('reaches the side exit %s only from %j', (exit, from) => {
    expect([...allowedSourcesOf(exit)].sort()).toEqual([...from].sort());
  });

  it('has final states with no way out', () => {
    expect(communicationStatuses.filter(isFinalStatus).sort()).toEqual(['batched', 'bounced', 'cancelled', 'failed', 'responded']);
    for (const to of communicationStatuses) {
      for (const final of ['failed', 'cancelled', 'bounced', 'responded', 'batched'] as const) expect(canTransition(final, to)).toBe(false);
    }
  });

  it('cannot return to pending, and cannot cancel once sending started', () => {
    expect(allowedSourcesOf('pending')).toEqual([]);
    for (const status of ['sending', 'sent', 'delivered'] as const) expect(canTransition(status, 'cancelled')).toBe(false);
  });

  it('is consistent: allowedSourcesOf is the inverse of the transition table', () => {
    for (const from of communicationStatuses) {
      for (const to of communicationStatuses) {
        expect(allowedSourcesOf(to).includes(from)).toBe(statusTransitions[from].includes(to));
      }
    }
  });

  it('has no cycle but the retry loop queued → sending → queued and the late-failure loop queued → sending → sent → queued', () => {
    expect(canTransition('sending', 'queued')).toBe(true);
    expect(canTransition('sent', 'queued')).toBe(true);
    // Depth-first search for a cycle in the transition graph, the retry edge left out.
    const visiting = new Set<CommunicationStatus>();
    const done = new Set<CommunicationStatus>();
    const visit = (status: CommunicationStatus): void => {
      if (done.has(status)) return;
      expect(visiting.has(status)).toBe(false);
      visiting.add(status);
      statusTransitions[status].filter((to) => !((status === 'sending' || status === 'sent') && to === 'queued')).forEach(visit);
      visiting.delete(status);
      done.add(status);
    };
    communicationStatuses.forEach(visit);
  });

  it('is frozen', () => {
    expect(Object.isFrozen(statusTransitions)).toBe(true);
    expect(() => (statusTransitions as Record<string, unknown>).pending = []).toThrow();
  });
});
