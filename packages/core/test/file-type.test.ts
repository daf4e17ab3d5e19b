import { attachmentContentTypes, attachmentTypeNames, detectFileType, isAttachmentContentType } from '@crm/core';

const pdf = Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n', 'latin1');
const png = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');
const jpeg = Buffer.from('ffd8ffe000104a46494600010100000100010000ffd9', 'hex');

describe('detectFileType', () => {
  it('recognises PDF, PNG and JPEG by their first bytes', () => {
    expect(detectFileType(pdf)).toBe('application/pdf');
    expect(detectFileType(png)).toBe('image/png');
    expect(detectFileType(jpeg)).toBe('image/jpeg');
    // Any JPEG marker after SOI (Exif, quantisation table…) is still a JPEG.
    expect(detectFileType(Uint8Array.from([0xff, 0xd8, 0xff, 0xe1, 0x00]))).toBe('image/jpeg');
    // A plain Uint8Array works as well as a Buffer.
    expect(detectFileType(new Uint8Array(png))).toBe('image/png');
  });

  it.each([
    ['empty', Buffer.alloc(0)],
    ['a GIF', Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1')],
    ['HTML', Buffer.from('<!doctype html><script>alert(1)</script>')],
    ['a ZIP (docx, xlsx)', Buffer.from('504b0304140000000800', 'hex')],
    ['"%PDF" without the dash', Buffer.from('%PDF1.7')],
    ['a PDF signature not at the start', Buffer.from(' %PDF-1.7')],
    ['a PNG signature cut short', png.subarray(0, 7)],
    ['a PNG signature with one byte wrong (LF for CR-LF)', Buffer.from('89504e470a0a1a0a', 'hex')],
    ['two JPEG bytes', Buffer.from('ffd8', 'hex')],
    ['a JPEG start without the next marker', Buffer.from('ffd800e0', 'hex')],
  ])('refuses %s', (_name, bytes) => {
    expect(detectFileType(bytes)).toBeNull();
  });
});

describe('attachmentContentTypes', () => {
  it('lists the three accepted types, each with a name', () => {
    expect(attachmentContentTypes).toEqual(['application/pdf', 'image/png', 'image/jpeg']);
    expect(Object.isFrozen(attachmentContentTypes)).toBe(true);
    expect(attachmentContentTypes.map((type) => attachmentTypeNames[type])).toEqual(['PDF', 'PNG', 'JPEG']);
  });

  it('isAttachmentContentType takes exactly those', () => {
    for (const type of attachmentContentTypes) expect(isAttachmentContentType(type)).toBe(true);
    for (const other of ['image/gif', 'application/json', 'IMAGE/PNG', 'image/png; charset=binary', 'image/jpg', '']) {
      expect(isAttachmentContentType(other)).toBe(false);
    }
  });
});
