import fc from 'fast-check';
import { smsSegments, type SmsSegments } from '@crm/core';

const a = (count: number): string => 'a'.repeat(count);
const c = (count: number): string => 'ç'.repeat(count);
const gsm = (units: number, segments: number): SmsSegments => ({ encoding: 'GSM-7', units, segments, singleSegmentLimit: 160 });
const ucs2 = (units: number, segments: number): SmsSegments => ({ encoding: 'UCS-2', units, segments, singleSegmentLimit: 70 });

/** The characters of GSM 03.38's extension table: each an escape plus one septet. */
const extensionChars = ['€', '[', ']', '{', '}', '\\', '~', '^', '|', '\f'];
/** Accented letters that GSM 03.38's basic table has. */
const gsmAccents = ['é', 'è', 'ù', 'ì', 'ò', 'Ç', 'Ä', 'Ö', 'Ñ', 'Ü', 'à', 'ß'];
/** Accented letters that it does not have: any one makes the text UCS-2. */
const nonGsmAccents = ['á', 'í', 'ó', 'ú', 'ç', 'ê', 'â', 'ã', 'õ', 'ł'];

describe('smsSegments', () => {
  const cases: readonly (readonly [string, string, SmsSegments])[] = [
    ['empty', '', gsm(0, 0)],
    ['plain sentence', 'Your budget is ready.', gsm(21, 1)],
    ['plain ASCII at 160', a(160), gsm(160, 1)],
    ['plain ASCII at 161', a(161), gsm(161, 2)],
    ['two full concatenated segments', a(306), gsm(306, 2)],
    ['one septet into a third segment', a(307), gsm(307, 3)],
    ['three full concatenated segments', a(459), gsm(459, 3)],
    ['four segments', a(460), gsm(460, 4)],
    ['mixed basic and extension', '€5 {x}', gsm(9, 1)],
    ['80 euro signs: 160 septets', '€'.repeat(80), gsm(160, 1)],
    ['81 euro signs: 162 septets', '€'.repeat(81), gsm(162, 2)],
    ['€ at the end of 160 septets', a(158) + '€', gsm(160, 1)],
    ['€ just past 160 septets', a(159) + '€', gsm(161, 2)],
    ['[ ] { } at the boundary', a(152) + '[]{}', gsm(160, 1)],
    ['[ ] { } one septet past it', a(153) + '[]{}', gsm(161, 2)],
    // Concatenated: the escape pair does not fit the 153rd septet, so it starts segment 2.
    ['€ pushed whole into segment 2', a(152) + '€' + a(151), gsm(305, 2)],
    ['€ pushed whole: a third segment where 306 septets would need two', a(152) + '€' + a(152), gsm(306, 3)],
    ['€ exactly filling segment 1', a(151) + '€' + a(153), gsm(306, 2)],
    ['line breaks are basic septets', 'a\nb\r\nc', gsm(6, 1)],
    ['GSM-7 accents, one septet each', gsmAccents.join(''), gsm(12, 1)],
    ['a GSM-7 accented word', 'Café Müller à Genève', gsm(20, 1)],
    ['one non-GSM accent makes the whole text UCS-2', 'Olá', ucs2(3, 1)],
    ['UCS-2 at 70', c(70), ucs2(70, 1)],
    ['UCS-2 at 71', c(71), ucs2(71, 2)],
    ['two full UCS-2 segments', c(134), ucs2(134, 2)],
    ['three UCS-2 segments', c(135), ucs2(135, 3)],
    ['three full UCS-2 segments', c(201), ucs2(201, 3)],
    ['four UCS-2 segments', c(202), ucs2(202, 4)],
    ['an emoji is two UTF-16 units', '👋', ucs2(2, 1)],
    ['35 emoji: 70 units', '👋'.repeat(35), ucs2(70, 1)],
    ['36 emoji: 72 units', '👋'.repeat(36), ucs2(72, 2)],
    ['emoji beside GSM text', `Hi Ada ${'🎉'}`, ucs2(9, 1)],
    // Concatenated: a surrogate pair does not fit the 67th unit, so it starts segment 2.
    ['surrogate pair pushed whole into segment 2', c(66) + '🎉' + c(65), ucs2(133, 2)],
    ['surrogate pair pushed whole: a third segment where 134 units would need two', c(66) + '🎉' + c(66), ucs2(134, 3)],
    ['CJK name', '王小明', ucs2(3, 1)],
    ['CJK at 70', '王'.repeat(70), ucs2(70, 1)],
    ['CJK at 71', '王'.repeat(71), ucs2(71, 2)],
    ['CJK in three segments', '王'.repeat(135), ucs2(135, 3)],
    ['ë is not GSM-7', 'Zoë', ucs2(3, 1)],
    ['extension chars count one unit each in UCS-2', 'ç€[]', ucs2(4, 1)],
  ];

  it.each(cases)('%s', (_name, text, expected) => {
    expect(smsSegments(text)).toEqual(expected);
  });

  it.each(extensionChars.map((char) => [JSON.stringify(char), char] as const))('counts extension character %s as two septets at the 160 boundary', (_name, char) => {
    expect(smsSegments(a(158) + char)).toEqual(gsm(160, 1));
    expect(smsSegments(a(159) + char)).toEqual(gsm(161, 2));
  });

  it.each(gsmAccents)('keeps %s in GSM-7: 160 in one segment, 161 in two', (char) => {
    expect(smsSegments(char.repeat(160))).toEqual(gsm(160, 1));
    expect(smsSegments(char.repeat(161))).toEqual(gsm(161, 2));
  });

  it.each(nonGsmAccents)('switches to UCS-2 for %s: 70 in one segment, 71 in two', (char) => {
    expect(smsSegments(a(69) + char)).toEqual(ucs2(70, 1));
    expect(smsSegments(a(70) + char)).toEqual(ucs2(71, 2));
    expect(smsSegments(char + a(200))).toEqual(ucs2(201, 3));
  });

  it('never packs more than 153 septets or 67 units into a concatenated segment, nor wastes more than one per segment', () => {
    const gsmChar = fc.constantFrom('a', ' ', '€', '{', 'é', '\n', '^');
    const ucs2Char = fc.constantFrom('ç', '👋', '王', 'a', '€', '🎉');
    fc.assert(
      fc.property(fc.array(gsmChar, { minLength: 161, maxLength: 700 }), (chars) => {
        const { units, segments } = smsSegments(chars.join(''));
        expect(segments).toBeGreaterThanOrEqual(Math.ceil(units / 153));
        expect(segments).toBeLessThanOrEqual(Math.ceil(units / 152));
      }),
    );
    fc.assert(
      fc.property(fc.array(ucs2Char, { minLength: 1, maxLength: 300 }), (chars) => {
        const text = `ç${chars.join('')}`;
        const { encoding, units, segments } = smsSegments(text);
        expect(encoding).toBe('UCS-2');
        if (units <= 70) expect(segments).toBe(1);
        else {
          expect(segments).toBeGreaterThanOrEqual(Math.ceil(units / 67));
          expect(segments).toBeLessThanOrEqual(Math.ceil(units / 66));
        }
      }),
    );
  });
});
