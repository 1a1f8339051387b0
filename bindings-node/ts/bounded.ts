/**
 * The facade's one get-or-ask cache: the core's answer for a key, asked once per distinct key and
 * kept for at most `capacity` keys (header names, topics, SDK tracestates: a hostile or buggy
 * producer must not grow memory without bound). Past the cap an unknown key gets `overflow`'s
 * answer (by default the core's, asked again and not kept).
 */
export class BoundedCache<V> {
  private readonly kept = new Map<string, V>();

  constructor(
    private readonly capacity: number,
    private readonly ask: (key: string) => V,
    private readonly overflow: (key: string) => V = ask,
  ) {}

  get(key: string): V {
    let v = this.kept.get(key);
    if (v === undefined) {
      if (this.kept.size >= this.capacity) return this.overflow(key);
      v = this.ask(key);
      this.kept.set(key, v);
    }
    return v;
  }
}
