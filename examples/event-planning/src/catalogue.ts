/** A vendor of the built-in catalogue. */
export interface Vendor {
  readonly id: string;
  readonly name: string;
  readonly category: string;
  /** The quote for the whole event, in `currency`. */
  readonly price: number;
  readonly currency: string;
  /** 0–5, from past clients. */
  readonly rating: number;
  /** Most guests the vendor serves. */
  readonly capacity: number;
  readonly url: string;
}

/** What the vendor search looks for. */
export interface VendorQuery {
  readonly category: string;
  /** The budget allocated to the category. */
  readonly budget: number;
  readonly guestCount: number;
  readonly currency: string;
}

/** The small built-in catalogue the example searches (no network, no model: the same answer every time). */
export const vendorCatalogue: readonly Vendor[] = Object.freeze([
  { id: 'venue-harbourview', name: 'Harbourview Hall', category: 'Venue', price: 7200, currency: 'USD', rating: 4.8, capacity: 180, url: 'https://vendors.example.com/harbourview-hall' },
  { id: 'venue-old-mill', name: 'The Old Mill', category: 'Venue', price: 6100, currency: 'USD', rating: 4.6, capacity: 140, url: 'https://vendors.example.com/the-old-mill' },
  { id: 'venue-glasshouse', name: 'Glasshouse Gardens', category: 'Venue', price: 8900, currency: 'USD', rating: 4.9, capacity: 220, url: 'https://vendors.example.com/glasshouse-gardens' },
  { id: 'venue-rooftop', name: 'Skyline Rooftop', category: 'Venue', price: 5400, currency: 'USD', rating: 4.3, capacity: 90, url: 'https://vendors.example.com/skyline-rooftop' },
  { id: 'venue-library', name: 'Atheneum Library', category: 'Venue', price: 12500, currency: 'USD', rating: 4.7, capacity: 120, url: 'https://vendors.example.com/atheneum-library' },
  { id: 'catering-saffron', name: 'Saffron Table Catering', category: 'Catering', price: 5400, currency: 'USD', rating: 4.7, capacity: 250, url: 'https://vendors.example.com/saffron-table' },
  { id: 'catering-greenleaf', name: 'Greenleaf Kitchen', category: 'Catering', price: 4300, currency: 'USD', rating: 4.4, capacity: 150, url: 'https://vendors.example.com/greenleaf-kitchen' },
  { id: 'catering-copper', name: 'Copper Pot Events', category: 'Catering', price: 6900, currency: 'USD', rating: 4.8, capacity: 300, url: 'https://vendors.example.com/copper-pot' },
  { id: 'catering-street', name: 'Street Feast Co.', category: 'Catering', price: 3600, currency: 'USD', rating: 4.1, capacity: 200, url: 'https://vendors.example.com/street-feast' },
  { id: 'photo-lumen', name: 'Lumen Studio', category: 'Photography', price: 2600, currency: 'USD', rating: 4.9, capacity: 500, url: 'https://vendors.example.com/lumen-studio' },
  { id: 'photo-frame', name: 'Frame & Field', category: 'Photography', price: 1900, currency: 'USD', rating: 4.5, capacity: 500, url: 'https://vendors.example.com/frame-and-field' },
  { id: 'photo-silver', name: 'Silver Hour Photography', category: 'Photography', price: 3300, currency: 'USD', rating: 4.8, capacity: 500, url: 'https://vendors.example.com/silver-hour' },
]);

/** How well one vendor fits: rating, closeness to the budget (over budget costs double), room for the guests. */
export function vendorFit(vendor: Vendor, query: VendorQuery): number {
  const budget = Math.max(query.budget, 1);
  const over = Math.max(0, vendor.price - budget) / budget;
  const under = Math.max(0, budget - vendor.price) / budget;
  const tooSmall = vendor.capacity < query.guestCount ? 1 : 0;
  return vendor.rating / 5 - 2 * over - 0.25 * under - tooSmall;
}

/** A shortlist and its score. */
interface Beam {
  readonly vendors: readonly Vendor[];
  readonly score: number;
}

/**
 * A small beam search over the catalogue: shortlists grow one vendor at a time, each step keeping
 * the `width` best, scored by each vendor's {@link vendorFit} plus a bonus for spread in price
 * (three options at three price points serve a client better than three alike). Deterministic:
 * ties go to the lower vendor id. Returns the best shortlist of `size`, best vendor first.
 *
 * @throws Error when the category has fewer than `size` vendors.
 * @example beamSearchVendors({ category: 'Venue', budget: 7400, guestCount: 120, currency: 'USD' }).map((v) => v.name)
 */
export function beamSearchVendors(query: VendorQuery, options: { size?: number; width?: number; catalogue?: readonly Vendor[] } = {}): Vendor[] {
  const size = options.size ?? 3;
  const width = options.width ?? 3;
  const candidates = (options.catalogue ?? vendorCatalogue)
    .filter((vendor) => vendor.category === query.category)
    .sort((a, b) => a.id.localeCompare(b.id));
  if (candidates.length < size) throw new Error(`the catalogue has ${candidates.length} ${query.category} vendors, fewer than ${size}`);
  const scoreOf = (vendors: readonly Vendor[]): number => {
    const fit = vendors.reduce((sum, vendor) => sum + vendorFit(vendor, query), 0);
    const prices = vendors.map((vendor) => vendor.price);
    const spread = vendors.length > 1 ? (Math.max(...prices) - Math.min(...prices)) / Math.max(query.budget, 1) : 0;
    return fit + 0.2 * Math.min(spread, 1);
  };
  const key = (vendors: readonly Vendor[]) => vendors.map((vendor) => vendor.id).sort().join('+');
  let beams: Beam[] = [{ vendors: [], score: 0 }];
  for (let step = 0; step < size; step += 1) {
    const next = new Map<string, Beam>();
    for (const beam of beams) {
      for (const vendor of candidates) {
        if (beam.vendors.includes(vendor)) continue;
        const vendors = [...beam.vendors, vendor];
        const id = key(vendors);
        if (!next.has(id)) next.set(id, { vendors, score: scoreOf(vendors) });
      }
    }
    beams = [...next.entries()]
      .sort(([ka, a], [kb, b]) => b.score - a.score || ka.localeCompare(kb))
      .slice(0, width)
      .map(([, beam]) => beam);
  }
  const best = beams[0]!;
  return [...best.vendors].sort((a, b) => vendorFit(b, query) - vendorFit(a, query) || a.id.localeCompare(b.id));
}

/** `7200, 'USD'` → `$7,200`. */
export function formatMoney(amount: number, currency: string): string {
  return new Intl.NumberFormat('en-US', { style: 'currency', currency, maximumFractionDigits: 0 }).format(amount);
}
