import { SingleBar, Presets } from 'cli-progress';

/**
 * A progress bar on stderr (cli-progress). Without a terminal nothing is drawn while it runs,
 * and one line is written when it finishes, so logs stay readable.
 */
export class Progress {
  readonly #bar: SingleBar;
  readonly #label: string;
  readonly #total: number;
  readonly #started = Date.now();
  #value = 0;
  #stopped = false;

  constructor(label: string, total: number) {
    this.#label = label;
    this.#total = total;
    this.#bar = new SingleBar(
      { format: `  ${label.padEnd(26)} {bar} {value}/{total} {rate}/s {extra}`, stream: process.stderr, hideCursor: true, clearOnComplete: true, fps: 5, etaBuffer: 50 },
      Presets.shades_classic,
    );
    this.#bar.start(total, 0, { rate: '0', extra: '' });
  }

  update(value: number, extra = ''): void {
    this.#value = value;
    const seconds = (Date.now() - this.#started) / 1000;
    this.#bar.update(Math.min(value, this.#total), { rate: seconds > 0 ? (value / seconds).toFixed(0) : '0', extra });
  }

  stop(note = ''): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#bar.stop();
    const seconds = (Date.now() - this.#started) / 1000;
    process.stderr.write(`  ${this.#label}: ${this.#value}/${this.#total} in ${seconds.toFixed(1)} s${note ? ` (${note})` : ''}\n`);
  }
}
