/**
 * A FIFO with a hard item cap and an optional byte cap. `offer` never blocks
 * and never grows past the limits: it returns false and the caller counts the
 * drop. Ring buffer so the hot path allocates nothing per item.
 */
export class BoundedQueue<T> {
  readonly maxItems: number;
  readonly maxBytes: number;
  #items: Array<T | undefined>;
  #sizes: Float64Array;
  #head = 0;
  #length = 0;
  #bytes = 0;

  constructor(maxItems: number, maxBytes = Number.POSITIVE_INFINITY) {
    if (!Number.isInteger(maxItems) || maxItems < 1) throw new RangeError('maxItems must be a positive integer');
    this.maxItems = maxItems;
    this.maxBytes = maxBytes;
    this.#items = new Array<T | undefined>(maxItems);
    this.#sizes = new Float64Array(maxItems);
  }

  get length(): number {
    return this.#length;
  }

  get bytes(): number {
    return this.#bytes;
  }

  offer(item: T, size = 0): boolean {
    if (this.#length >= this.maxItems || this.#bytes + size > this.maxBytes) return false;
    const slot = (this.#head + this.#length) % this.maxItems;
    this.#items[slot] = item;
    this.#sizes[slot] = size;
    this.#length++;
    this.#bytes += size;
    return true;
  }

  /** The oldest item, left in place. */
  peek(): T | undefined {
    return this.#length === 0 ? undefined : this.#items[this.#head];
  }

  poll(): T | undefined {
    if (this.#length === 0) return undefined;
    const item = this.#items[this.#head];
    this.#bytes -= this.#sizes[this.#head] ?? 0;
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.maxItems;
    this.#length--;
    return item;
  }

  /** Removes and returns up to `max` items in order. */
  drain(max = this.#length): T[] {
    const out: T[] = [];
    while (out.length < max && this.#length > 0) out.push(this.poll() as T);
    return out;
  }
}
