/**
 * The last `capacity` keys set, with their values; the oldest set is let go of as a new key
 * comes (first in, first out: a read does not refresh a key, a set of a key held does not move
 * it). For "was this id seen lately" on a per-request path, where an LRU cache's refresh and
 * bookkeeping cost about 1 µs a set (lru-cache in the replay scheduler, 100,000 sessions) and
 * a plain Set or Map grows without bound.
 *
 * Never iterated: a Map read from its front while entries are deleted there skips every entry
 * deleted since its last rehash. The ring says which key is oldest instead.
 */
export class RecentMap<K, V> {
  readonly #map = new Map<K, V>();
  readonly #ring: Array<K | undefined>;
  #at = 0;

  constructor(capacity: number) {
    this.#ring = new Array<K | undefined>(Math.max(1, Math.floor(capacity)));
  }

  get size(): number {
    return this.#map.size;
  }

  has(key: K): boolean {
    return this.#map.has(key);
  }

  get(key: K): V | undefined {
    return this.#map.get(key);
  }

  set(key: K, value: V): void {
    if (!this.#map.has(key)) {
      const ring = this.#ring;
      const oldest = ring[this.#at];
      if (oldest !== undefined) this.#map.delete(oldest);
      ring[this.#at] = key;
      this.#at = this.#at + 1 === ring.length ? 0 : this.#at + 1;
    }
    this.#map.set(key, value);
  }
}
