/** The GSM 03.38 default alphabet: one septet each. */
const gsm7Basic = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
/** The GSM 03.38 extension table: an escape plus one septet each. */
const gsm7Extension = new Set('^{}\\[~]|€\f');

/** Septets in one GSM-7 SMS, and in each part of a concatenated one (the rest is the UDH). */
const GSM7_SINGLE = 160;
const GSM7_PART = 153;
/** UTF-16 code units in one UCS-2 SMS, and in each part of a concatenated one. */
const UCS2_SINGLE = 70;
const UCS2_PART = 67;

export interface SmsSegments {
  /** `GSM-7` when every character is in the GSM 03.38 alphabet, else `UCS-2`. */
  readonly encoding: 'GSM-7' | 'UCS-2';
  /** Septets (GSM-7) or UTF-16 code units (UCS-2) the text takes. */
  readonly units: number;
  /** Segments the text is sent in: 160/153 septets or 70/67 code units per segment. */
  readonly segments: number;
  /** Units that fit in one segment with this encoding (160 or 70). */
  readonly singleSegmentLimit: number;
}

/**
 * Segments of a concatenated message whose characters take `sizes` units each, `perPart`
 * units per segment: a character never straddles two segments (an escape + extension septet
 * pair, or a UTF-16 surrogate pair, moves whole to the next segment, as carriers split them).
 */
function concatenatedSegments(sizes: readonly number[], perPart: number): number {
  let segments = 1;
  let used = 0;
  for (const size of sizes) {
    if (used + size > perPart) {
      segments += 1;
      used = 0;
    }
    used += size;
  }
  return segments;
}

/**
 * How an SMS body is split for sending, as carriers (and Twilio's `num_segments`) count it: a
 * GSM-7 text fits 160 septets in one segment (extension characters `^ { } \ [ ~ ] | €` and form
 * feed take two: an escape and the character) and 153 per segment once concatenated; any other
 * character makes the whole text UCS-2, 70 UTF-16 code units in one segment (a character outside
 * the BMP, such as most emoji, takes two), 67 per concatenated segment. Concatenated segments
 * never split an escape pair or a surrogate pair: the pair moves to the next segment, so
 * `segments` can exceed `ceil(units / 153)` (or `/ 67`).
 *
 * @example smsSegments('Your budget is ready.') // { encoding: 'GSM-7', units: 21, segments: 1, singleSegmentLimit: 160 }
 * @example smsSegments('Olá 👋').encoding // 'UCS-2'
 * @example smsSegments('a'.repeat(152) + '€' + 'a'.repeat(152)).segments // 3: the € does not fit the first segment's last septet
 */
export function smsSegments(text: string): SmsSegments {
  const septets: number[] = [];
  let gsm = true;
  for (const char of text) {
    if (gsm7Basic.has(char)) septets.push(1);
    else if (gsm7Extension.has(char)) septets.push(2);
    else {
      gsm = false;
      break;
    }
  }
  if (gsm) {
    const units = septets.reduce((sum, size) => sum + size, 0);
    const segments = units === 0 ? 0 : units <= GSM7_SINGLE ? 1 : concatenatedSegments(septets, GSM7_PART);
    return { encoding: 'GSM-7', units, segments, singleSegmentLimit: GSM7_SINGLE };
  }
  const units = text.length;
  // Iterating a string yields code points: a surrogate pair (2 units) stays one item. A lone
  // surrogate is one unit, as it is sent.
  const segments = units <= UCS2_SINGLE ? 1 : concatenatedSegments(Array.from(text, (char) => char.length), UCS2_PART);
  return { encoding: 'UCS-2', units, segments, singleSegmentLimit: UCS2_SINGLE };
}
