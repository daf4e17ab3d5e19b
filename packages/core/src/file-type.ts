/** The content types an attachment may have: PDF, PNG and JPEG. */
export const attachmentContentTypes = Object.freeze(['application/pdf', 'image/png', 'image/jpeg'] as const);
export type AttachmentContentType = (typeof attachmentContentTypes)[number];

/** The leading bytes ("magic number") that each type's files start with. */
const signatures: readonly (readonly [AttachmentContentType, readonly number[]])[] = [
  // `%PDF-`
  ['application/pdf', [0x25, 0x50, 0x44, 0x46, 0x2d]],
  // `\x89PNG\r\n\x1a\n`
  ['image/png', [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]],
  // SOI marker followed by the first byte of the next marker
  ['image/jpeg', [0xff, 0xd8, 0xff]],
];

/** A short human name of each type, for messages ("the content is a PDF"). */
export const attachmentTypeNames: Readonly<Record<AttachmentContentType, string>> = Object.freeze({
  'application/pdf': 'PDF',
  'image/png': 'PNG',
  'image/jpeg': 'JPEG',
});

/**
 * The type of a file from its first bytes, whatever its name or declared type says; `null` when
 * it is none of {@link attachmentContentTypes}.
 *
 * @example
 * detectFileType(Buffer.from('%PDF-1.7\n…')) // 'application/pdf'
 * detectFileType(Buffer.from('GIF89a'))      // null
 */
export function detectFileType(bytes: Uint8Array): AttachmentContentType | null {
  for (const [type, signature] of signatures) {
    if (bytes.length >= signature.length && signature.every((byte, n) => bytes[n] === byte)) return type;
  }
  return null;
}

/**
 * Whether `value` is one of {@link attachmentContentTypes} (exactly: lower case, no parameters).
 *
 * @example isAttachmentContentType('image/png') // true
 */
export function isAttachmentContentType(value: string): value is AttachmentContentType {
  return (attachmentContentTypes as readonly string[]).includes(value);
}
