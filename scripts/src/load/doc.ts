import { readFileSync, writeFileSync } from 'node:fs';

/**
 * Replaces what lies between `<!-- <part>:start -->` and `<!-- <part>:end -->` in `path` with
 * `content`, reading the file right before writing it (other parts are written by other runs).
 * Throws when the markers are missing.
 */
export function writeDocSection(path: string, part: string, content: string): void {
  const start = `<!-- ${part}:start -->`;
  const end = `<!-- ${part}:end -->`;
  const text = readFileSync(path, 'utf8');
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`${path} has no ${start} … ${end} markers`);
  writeFileSync(path, `${text.slice(0, from + start.length)}\n${content.trim()}\n${text.slice(to)}`);
}

/** A number with thousands separators. */
export const fmt = (value: number | null | undefined, digits = 0): string =>
  value === null || value === undefined || Number.isNaN(value) ? '–' : value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** Bytes as MiB with one decimal. */
export const mib = (bytes: number | null | undefined): string => (bytes === null || bytes === undefined ? '–' : `${fmt(bytes / 2 ** 20, 1)} MiB`);
