import { smsSegments } from '@crm/core';

describe('smsSegments', () => {
  it('counts a GSM-7 text in septets: 160 in one segment, 153 per segment beyond', () => {
    expect(smsSegments('Your budget is ready.')).toEqual({ encoding: 'GSM-7', units: 21, segments: 1, singleSegmentLimit: 160 });
    expect(smsSegments('a'.repeat(160)).segments).toBe(1);
    expect(smsSegments('a'.repeat(161)).segments).toBe(2);
    expect(smsSegments('a'.repeat(306)).segments).toBe(2);
    expect(smsSegments('a'.repeat(307)).segments).toBe(3);
    expect(smsSegments('').segments).toBe(0);
  });

  it('counts extension characters (€, {, ]) as two septets', () => {
    expect(smsSegments('€5 {x}')).toMatchObject({ encoding: 'GSM-7', units: 9 });
    expect(smsSegments('€'.repeat(80)).segments).toBe(1);
    expect(smsSegments('€'.repeat(81)).segments).toBe(2);
  });

  it('switches the whole text to UCS-2 for any other character: 70 units, then 67 per segment', () => {
    expect(smsSegments('Olá')).toMatchObject({ encoding: 'UCS-2', units: 3, segments: 1, singleSegmentLimit: 70 });
    // An emoji is two UTF-16 code units.
    expect(smsSegments('👋').units).toBe(2);
    expect(smsSegments('ç'.repeat(70)).segments).toBe(1);
    expect(smsSegments('ç'.repeat(71)).segments).toBe(2);
    expect(smsSegments('ç'.repeat(135)).segments).toBe(3);
  });
});
