/** What the blueprint shows. */
export interface BlueprintContent {
  readonly title: string;
  /** Lines of text, top to bottom; a line starting with `# ` is a heading. */
  readonly lines: readonly string[];
}

/** PDF strings hold Latin-1 in the standard fonts: anything else becomes `?`; `(`, `)` and `\` are escaped. */
function pdfText(text: string): string {
  return text
    .replace(/[^\x20-\x7e]/g, '?')
    .replace(/[\\()]/g, (char) => `\\${char}`);
}

/**
 * A one-page (or longer) PDF 1.4 document written by hand: Helvetica text, no compression, a
 * correct cross-reference table, so any reader (and the engine's magic-byte check, `%PDF-`)
 * accepts it. Enough for the example's blueprint without a PDF library.
 *
 * @example const pdf = blueprintPdf({ title: 'Blueprint', lines: ['# Vendors', 'Harbourview Hall'] });
 */
export function blueprintPdf(content: BlueprintContent): Buffer {
  const linesPerPage = 46;
  const all = [`# ${content.title}`, '', ...content.lines];
  const pages: string[][] = [];
  for (let i = 0; i < all.length; i += linesPerPage) pages.push(all.slice(i, i + linesPerPage));

  // Objects: 1 catalog, 2 pages, 3 regular font, 4 bold font, then a page and its content per page.
  const objects: string[] = [];
  const pageIds = pages.map((_, index) => 5 + index * 2);
  objects[1] = '<< /Type /Catalog /Pages 2 0 R >>';
  objects[2] = `<< /Type /Pages /Kids [${pageIds.map((id) => `${id} 0 R`).join(' ')}] /Count ${pages.length} >>`;
  objects[3] = '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>';
  objects[4] = '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>';
  pages.forEach((lines, index) => {
    const pageId = pageIds[index]!;
    let y = 790;
    const ops: string[] = [];
    for (const line of lines) {
      const heading = line.startsWith('# ');
      const size = heading ? 15 : 11;
      if (heading && y < 790) y -= 8;
      ops.push(`BT /${heading ? 'F2' : 'F1'} ${size} Tf 56 ${y} Td (${pdfText(heading ? line.slice(2) : line)}) Tj ET`);
      y -= heading ? 22 : 16;
    }
    const stream = ops.join('\n');
    objects[pageId] = `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents ${pageId + 1} 0 R >>`;
    objects[pageId + 1] = `<< /Length ${Buffer.byteLength(stream, 'latin1')} >>\nstream\n${stream}\nendstream`;
  });

  let out = '%PDF-1.4\n%\xe2\xe3\xcf\xd3\n';
  const offsets: number[] = [];
  for (let id = 1; id < objects.length; id += 1) {
    offsets[id] = Buffer.byteLength(out, 'latin1');
    out += `${id} 0 obj\n${objects[id]!}\nendobj\n`;
  }
  const xref = Buffer.byteLength(out, 'latin1');
  out += `xref\n0 ${objects.length}\n0000000000 65535 f \n`;
  for (let id = 1; id < objects.length; id += 1) out += `${String(offsets[id]).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}
