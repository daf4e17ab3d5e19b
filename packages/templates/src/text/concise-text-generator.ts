import { smsSegments } from '@crm/core';

/**
 * A place in a part's text where a shortenable name goes. When the name's current form is `''`
 * the slot leaves nothing, not even `before` / `after`: `['Hi', slot('client', ' '), ',']` reads
 * "Hi Amelia," or "Hi,".
 */
export interface NameSlot {
  /** The key of the name in {@link ConciseTextInput.names}. */
  readonly name: string;
  /** Text before the name, only when the name is shown. */
  readonly before?: string;
  /** Text after the name, only when the name is shown. */
  readonly after?: string;
}

/** Literal text, or a {@link NameSlot}. */
export type TextPiece = string | NameSlot;
/** One wording of a part: a plain string, or pieces with name slots. */
export type TextVariant = string | readonly TextPiece[];

/**
 * One part of a text (a sentence, a list item, a link). Parts are written in order, each after
 * its `separator` (a space unless given), and each part is whole: nothing is ever cut out of
 * one, it is only replaced by a shorter variant or left out.
 */
export interface TextPart {
  /** A name for reports (`dropped`, `shortened`): what the part says, never its text. */
  readonly id: string;
  /**
   * Its wordings, longest first. A required part ends at its last variant; an optional part
   * is left out after its last one.
   */
  readonly variants: readonly TextVariant[];
  /** A required part is always in the text. @defaultValue false */
  readonly required?: boolean;
  /**
   * When to give up its next variant (or, optional only, the part itself), on the one scale
   * shared with names: lower goes first. One number for every step, or one per step (`[p0, p1]`:
   * variant 0 → 1 at `p0`, then 1 → 2 at `p1`; the last one repeats).
   * @defaultValue 0 for an optional part ({@link OPTIONAL_PRIORITY}), 200 for a required one ({@link REQUIRED_PRIORITY})
   */
  readonly priority?: number | readonly number[];
  /** Written before the part, unless it is the first part written. @defaultValue ' ' */
  readonly separator?: string;
}

/**
 * A name that may be shortened wherever it appears: its forms, longest first ("Amelia Hart",
 * "Amelia", ""); `''` means "no name" (its slots then write nothing).
 */
export interface ShortenableName {
  readonly forms: readonly string[];
  /**
   * When to take each shortening step, on the scale shared with parts: one number for every step,
   * or one per step (`[p0, p1]`: form 0 → 1 at `p0`, form 1 → 2 at `p1`; the last one repeats).
   * Names of equal priority take turns, one step each. @defaultValue 100 ({@link NAME_PRIORITY})
   */
  readonly priority?: number | readonly number[];
}

/** The default priority of an optional part's steps: they go first. */
export const OPTIONAL_PRIORITY = 0;
/** The default priority of a name's steps: after optional parts. */
export const NAME_PRIORITY = 100;
/** The default priority of a required part's shorter variants: last. */
export const REQUIRED_PRIORITY = 200;

/** What {@link ConciseTextGenerator.compose} composes. */
export interface ConciseTextInput {
  readonly parts: readonly TextPart[];
  readonly names?: Readonly<Record<string, ShortenableName>>;
}

/** What {@link ConciseTextGenerator.compose} returns. */
export interface ConciseText {
  readonly body: string;
  /** The SMS encoding of `body` (GSM-7 unless a character needs UCS-2). */
  readonly encoding: 'GSM-7' | 'UCS-2';
  /** SMS segments of `body`, with pairs never split across segments (`smsSegments`). */
  readonly segments: number;
  /** Septets (GSM-7) or UTF-16 code units (UCS-2) of `body`. */
  readonly units: number;
  /** Whether `body` is within the limit; when not, it is the shortest text the parts allow. */
  readonly fits: boolean;
  /** Ids of the optional parts left out, in order of the parts. */
  readonly dropped: readonly string[];
  /** Ids of the parts written in a shorter variant and keys of the names shortened. */
  readonly shortened: readonly string[];
}

/**
 * The limit a text must fit: SMS segments (the default, one) or a length in UTF-16 code units
 * (a WhatsApp body: 1024 or 4096).
 */
export interface ConciseTextOptions {
  /** At most this many SMS segments (`smsSegments`). @defaultValue 1 */
  readonly maxSegments?: number;
  /** Instead of segments: at most this many UTF-16 code units. */
  readonly maxLength?: number;
}

/** One element that can be made shorter: a part (variant by variant, then out) or a name (form by form). */
type Element = { readonly kind: 'part'; readonly index: number } | { readonly kind: 'name'; readonly key: string };

/** One reduction that was applied: `element` went from `level - 1` to `level`. */
interface Step {
  readonly element: Element;
  readonly level: number;
}

/** How far each part and name has been shortened: an index into its variants or forms. */
interface Levels {
  readonly parts: number[];
  readonly names: Map<string, number>;
}

/** A NameSlot's text at the name's current form. */
function slotText(slot: NameSlot, names: Readonly<Record<string, ShortenableName>>, levels: Levels): string {
  const name = Object.hasOwn(names, slot.name) ? names[slot.name] : undefined;
  const form = name?.forms[levels.names.get(slot.name) ?? 0] ?? '';
  return form === '' ? '' : `${slot.before ?? ''}${form}${slot.after ?? ''}`;
}

/**
 * Composes short texts from parts so they fit a limit, by default one SMS segment: 160 GSM-7
 * septets (extension characters such as `€ [ ] { }` take two) or 70 UTF-16 code units once any
 * character needs UCS-2. It never cuts: a part is only replaced by one of its shorter variants
 * or left out, and a name by one of its shorter forms. When the whole text does not fit it takes
 * these steps, lowest priority first, until the text fits:
 *
 * - an optional part's next variant, and after its last one the part is left out;
 * - a name's next form, in every slot at once ("Amelia Hart" → "Amelia" → "");
 * - a required part's next variant (its last variant stays).
 *
 * Every step has a priority on one scale. By default optional parts go first (0), then names
 * (100; names of equal priority take turns), then required parts' variants (200), as issue 7
 * asks: "first drop optional parts, then shorten names"; a template sets priorities to
 * interleave them (a client's full name → first name is cheap; a due date is worth more than a
 * long event name). Ties: optional parts, then names, then required parts; the later part first.
 *
 * Once the text fits, it takes back every step that still fits, the most important first, so a
 * link dropped early returns when a later step made room. If the shortest text the parts allow
 * still does not fit, it is returned with `fits: false` (and `segments` > 1): a message is
 * better sent long than cut.
 *
 * Names are never transliterated: "Zoë" keeps its ë, which makes the text UCS-2 and its limit
 * 70; a step that leaves the name out may then make it GSM-7 again, and the room that frees is
 * given back to the other parts.
 *
 * @example
 * const sms = new ConciseTextGenerator().compose({
 *   names: { client: { forms: ['Amelia Hart', 'Amelia', ''] } },
 *   parts: [
 *     { id: 'greeting', required: true, variants: [['Hi', { name: 'client', before: ' ' }, ', your budget is ready.']] },
 *     { id: 'link', priority: 2, variants: ['Details: https://x.co/b7'] },
 *   ],
 * });
 * // sms.body === 'Hi Amelia Hart, your budget is ready. Details: https://x.co/b7', sms.segments === 1
 */
export class ConciseTextGenerator {
  readonly #options: Readonly<Required<Pick<ConciseTextOptions, 'maxSegments'>> & Pick<ConciseTextOptions, 'maxLength'>>;

  constructor(options: ConciseTextOptions = {}) {
    const merged = { maxSegments: 1, ...options };
    if (!Number.isInteger(merged.maxSegments) || merged.maxSegments < 1) throw new RangeError('ConciseTextGenerator: maxSegments must be a positive integer');
    if (merged.maxLength !== undefined && (!Number.isInteger(merged.maxLength) || merged.maxLength < 1)) {
      throw new RangeError('ConciseTextGenerator: maxLength must be a positive integer');
    }
    this.#options = Object.freeze(merged);
  }

  /** Whether `body` is within this generator's limit. */
  fits(body: string): boolean {
    const { maxLength, maxSegments } = this.#options;
    return maxLength !== undefined ? body.length <= maxLength : smsSegments(body).segments <= maxSegments;
  }

  /** The text of `input`, shortened as little as it must be to fit (see the class). */
  compose(input: ConciseTextInput): ConciseText {
    const parts = input.parts.filter((part) => part.variants.length > 0);
    const names = input.names ?? {};
    const levels: Levels = { parts: parts.map(() => 0), names: new Map(Object.keys(names).map((key) => [key, 0])) };

    const render = (): string => {
      let body = '';
      parts.forEach((part, index) => {
        const variant = part.variants[levels.parts[index] ?? 0];
        if (variant === undefined) return; // dropped
        const text = typeof variant === 'string' ? variant : variant.map((piece) => (typeof piece === 'string' ? piece : slotText(piece, names, levels))).join('');
        if (text === '') return;
        body = body === '' ? text : `${body}${part.separator ?? ' '}${text}`;
      });
      return body;
    };
    const maxLevel = (element: Element): number => {
      if (element.kind === 'name') return Math.max(0, (names[element.key]?.forms.length ?? 1) - 1);
      const part = parts[element.index]!;
      return part.required === true ? part.variants.length - 1 : part.variants.length;
    };
    const levelOf = (element: Element): number => (element.kind === 'part' ? (levels.parts[element.index] ?? 0) : (levels.names.get(element.key) ?? 0));
    const setLevel = (element: Element, level: number): void => {
      if (element.kind === 'part') levels.parts[element.index] = level;
      else levels.names.set(element.key, level);
    };

    const steps: Step[] = [];
    let fits = this.fits(render());
    for (const element of reductionOrder(parts, names)) {
      if (fits) break;
      // One element's next level; names take turns, so reductionOrder lists a name once per step.
      const level = levelOf(element) + 1;
      if (level > maxLevel(element)) continue;
      setLevel(element, level);
      steps.push({ element, level });
      fits = this.fits(render());
    }

    if (fits) {
      // Take back what still fits, the last (most important) reductions first.
      for (const step of [...steps].reverse()) {
        if (levelOf(step.element) !== step.level) continue;
        setLevel(step.element, step.level - 1);
        if (!this.fits(render())) setLevel(step.element, step.level);
      }
    }

    const body = render();
    const { encoding, segments, units } = smsSegments(body);
    return {
      body,
      encoding,
      segments,
      units,
      fits,
      dropped: parts.filter((part, index) => part.required !== true && (levels.parts[index] ?? 0) >= part.variants.length).map((part) => part.id),
      shortened: [
        ...parts.filter((part, index) => (levels.parts[index] ?? 0) > 0 && (levels.parts[index] ?? 0) < part.variants.length).map((part) => part.id),
        ...[...levels.names].filter(([, level]) => level > 0).map(([key]) => key),
      ],
    };
  }
}

/** The priority of step `level` (from `level` to `level + 1`) of a part or name. */
function stepPriority(priority: number | readonly number[] | undefined, level: number, fallback: number): number {
  if (priority === undefined) return fallback;
  if (typeof priority === 'number') return priority;
  return priority[Math.min(level, priority.length - 1)] ?? fallback;
}

/**
 * Every reduction step in the order the generator takes them: by priority, then optional parts,
 * names, required parts, then by level (so names of equal priority take turns), then the later
 * part first.
 */
function reductionOrder(parts: readonly TextPart[], names: Readonly<Record<string, ShortenableName>>): Element[] {
  interface Keyed {
    readonly element: Element;
    readonly key: readonly [number, number, number, number];
  }
  const keyed: Keyed[] = [];
  parts.forEach((part, index) => {
    const required = part.required === true;
    const steps = required ? part.variants.length - 1 : part.variants.length;
    const fallback = required ? REQUIRED_PRIORITY : OPTIONAL_PRIORITY;
    for (let level = 0; level < steps; level++) keyed.push({ element: { kind: 'part', index }, key: [stepPriority(part.priority, level, fallback), required ? 2 : 0, level, -index] });
  });
  Object.entries(names).forEach(([key, name], position) => {
    for (let level = 0; level < name.forms.length - 1; level++) keyed.push({ element: { kind: 'name', key }, key: [stepPriority(name.priority, level, NAME_PRIORITY), 1, level, position] });
  });
  const compare = (a: Keyed, b: Keyed): number => a.key[0] - b.key[0] || a.key[1] - b.key[1] || a.key[2] - b.key[2] || a.key[3] - b.key[3];
  return keyed.sort(compare).map((entry) => entry.element);
}

/**
 * A {@link NameSlot}: where a shortenable name goes in a part, with text around it that shows only
 * with the name.
 *
 * @example ['Hi', slot('client', ' '), ', welcome!'] // "Hi Amelia, welcome!" or "Hi, welcome!"
 */
export const slot = (name: string, before?: string, after?: string): NameSlot => ({ name, ...(before !== undefined && { before }), ...(after !== undefined && { after }) });
