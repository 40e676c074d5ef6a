// A binary min-heap on a numeric priority, for due times.

export class MinHeap<T> {
  private items: { at: number; value: T }[] = [];

  get size(): number {
    return this.items.length;
  }

  push(at: number, value: T): void {
    const items = this.items;
    items.push({ at, value });
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (items[parent].at <= items[i].at) break;
      [items[parent], items[i]] = [items[i], items[parent]];
      i = parent;
    }
  }

  /** Keeps only the items `keep` accepts, in heap order again (O(n)). */
  retain(keep: (at: number, value: T) => boolean): void {
    const items = this.items.filter((it) => keep(it.at, it.value));
    this.items = items;
    for (let i = (items.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  peek(): { at: number; value: T } | undefined {
    return this.items[0];
  }

  pop(): { at: number; value: T } | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last) {
      items[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  private siftDown(i: number): void {
    const items = this.items;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let min = i;
      if (l < items.length && items[l].at < items[min].at) min = l;
      if (r < items.length && items[r].at < items[min].at) min = r;
      if (min === i) return;
      [items[min], items[i]] = [items[i], items[min]];
      i = min;
    }
  }
}
