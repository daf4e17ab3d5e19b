const ENCODED_WORD = /=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/g;
/** Whitespace between two encoded words is not part of the text (RFC 2047 §6.2). */
const BETWEEN_ENCODED_WORDS = /(\?=)\s+(?==\?[^?\s]+\?[BbQq]\?)/g;

/**
 * A raw header value as readable text: folding removed (RFC 5322 §2.2.3) and RFC 2047 encoded
 * words decoded. A word in a charset Node cannot decode is left as it was.
 *
 * @example
 * decodeHeaderValue('=?UTF-8?Q?Caf=C3=A9?=\r\n =?UTF-8?B?IOKCrA==?=') // 'Café €'
 */
export function decodeHeaderValue(raw: string): string {
  return raw
    .replace(/\r?\n(?=[ \t])/g, '')
    .trim()
    .replace(BETWEEN_ENCODED_WORDS, '$1')
    .replace(ENCODED_WORD, (word, charset: string, encoding: string, text: string) => {
      try {
        const bytes = encoding.toUpperCase() === 'B' ? Buffer.from(text, 'base64') : decodeQ(text);
        // RFC 2231 allows a language after the charset: UTF-8*en.
        const label = charset.split('*')[0] ?? charset;
        return new TextDecoder(label).decode(bytes);
      } catch {
        return word;
      }
    });
}

function decodeQ(text: string): Buffer {
  const bytes: number[] = [];
  for (let index = 0; index < text.length; index++) {
    const char = text[index];
    const hex = text.slice(index + 1, index + 3);
    if (char === '_') bytes.push(0x20);
    else if (char === '=' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      index += 2;
    } else bytes.push(text.charCodeAt(index));
  }
  return Buffer.from(bytes);
}
