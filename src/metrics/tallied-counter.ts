// A prom-client counter whose hot-path increments are plain numbers, handed to prom-client when the registry is
// collected (a scrape, or the primary asking a worker).
//
// prom-client's `inc` hashes and validates the label object on every call, a bound child included (its `inc`
// calls the parent's with the same labels): three series per request were 3-5 % of a warm hit's CPU
// (bench/PROFILE.md). Here an increment is up to three Map lookups keyed by the label values themselves (the
// same string objects each time, whose hashes V8 keeps) and an addition; prom-client still renders, aggregates
// across workers and resets the series.
import { Counter, type CounterConfiguration } from 'prom-client';

type Value = string | number;

interface Slot {
  readonly labels: Record<string, Value>;
  value: number;
}

/** Label sets are closed (kinds, methods, statuses, upstream names, results): this bounds a surprise, past it increments go to prom-client at once. */
const maxSlots = 4096;

export class TalliedCounter<L extends string> {
  readonly counter: Counter<L>;
  private readonly root = new Map<Value, Map<Value, Map<Value, Slot>>>();
  private readonly slots: Slot[] = [];

  constructor(
    config: Omit<CounterConfiguration<L>, 'collect'>,
    private readonly names: readonly L[],
  ) {
    const slots = this.slots;
    this.counter = new Counter<L>({
      ...config,
      labelNames: names,
      collect() {
        for (const slot of slots) {
          if (slot.value === 0) continue;
          this.inc(slot.labels as Partial<Record<L, Value>>, slot.value);
          slot.value = 0;
        }
      },
    });
  }

  /** Adds `value` to the series of these label values (in `names` order; `c` unused for a counter with two labels). */
  add(a: Value, b: Value, c: Value, value = 1): void {
    let second = this.root.get(a);
    if (second === undefined) this.root.set(a, (second = new Map()));
    let third = second.get(b);
    if (third === undefined) second.set(b, (third = new Map()));
    const slot = third.get(c);
    if (slot !== undefined) {
      slot.value += value;
      return;
    }
    const labels: Record<string, Value> = {};
    [a, b, c].slice(0, this.names.length).forEach((v, i) => (labels[this.names[i]!] = v));
    if (this.slots.length >= maxSlots) return void this.counter.inc(labels as Partial<Record<L, Value>>, value);
    const made = { labels, value };
    third.set(c, made);
    this.slots.push(made);
  }
}
