/** The GSM 03.38 default alphabet: one septet each. */
const gsm7Basic = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
/** The GSM 03.38 extension table: an escape plus one septet each. */
const gsm7Extension = new Set('^{}\\[~]|€\f');

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
 * How an SMS body is split for sending, as carriers (and Twilio's `num_segments`) count it: a
 * GSM-7 text fits 160 septets in one segment (extension characters such as `€` or `{` take
 * two) and 153 per segment once concatenated; any other character makes the whole text UCS-2,
 * 70 code units in one segment, 67 per concatenated segment.
 *
 * @example smsSegments('Your budget is ready.') // { encoding: 'GSM-7', units: 21, segments: 1, singleSegmentLimit: 160 }
 * @example smsSegments('Olá 👋').encoding // 'UCS-2'
 */
export function smsSegments(text: string): SmsSegments {
  let septets = 0;
  let gsm = true;
  for (const char of text) {
    if (gsm7Basic.has(char)) septets += 1;
    else if (gsm7Extension.has(char)) septets += 2;
    else {
      gsm = false;
      break;
    }
  }
  if (gsm) return { encoding: 'GSM-7', units: septets, segments: septets === 0 ? 0 : septets <= 160 ? 1 : Math.ceil(septets / 153), singleSegmentLimit: 160 };
  const units = text.length;
  return { encoding: 'UCS-2', units, segments: units <= 70 ? 1 : Math.ceil(units / 67), singleSegmentLimit: 70 };
}
