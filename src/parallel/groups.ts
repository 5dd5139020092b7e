/**
 * Cutting a piece of a file where calls may span pieces. Utterance rows of one call are adjacent and
 * share a key, and a piece boundary can fall inside such a group, so a piece is split into the group
 * it starts with (`head`: it may continue the previous piece's last group), the groups wholly inside
 * it (the middle) and the group it ends with (`tail`: it may go on in the next piece). Only the
 * middle is adapted where the piece was decoded; `head` and `tail` go back to the main thread, which
 * runs them through one sequential adapter in input order, exactly as a single thread would.
 *
 * Items without a key (rejects, rows with no call id) join no group and never end one, as in the
 * row adapter; they travel with the group they sit next to. The splitter streams: it holds one group
 * at a time, and hands each middle group on as soon as the next group starts.
 */
import type { Reject, SourceItem } from '../records/types.js';

export type PieceItem = SourceItem | Reject;

export class PieceSplitter {
  /** The items of the group the piece starts with (everything, while `whole`). */
  readonly head: PieceItem[] = [];
  /** The items of the group the piece ends with; set by `end()`. */
  tail: PieceItem[] = [];
  /** No item so far ended the first group: everything is in `head`. */
  whole: boolean;
  private firstKey: string | undefined;
  private held: PieceItem[] = [];
  private heldKey: string | undefined;

  /** Without `keyOf`, every item is a call of its own: all of them go to `middle` at once. */
  constructor(
    private readonly keyOf: ((item: SourceItem) => string | undefined) | undefined,
    private readonly middle: (item: PieceItem) => void,
  ) {
    this.whole = keyOf !== undefined;
  }

  push(item: PieceItem): void {
    const keyOf = this.keyOf;
    if (!keyOf) return this.middle(item);
    const key = item.kind === 'item' ? keyOf(item) : undefined;
    if (this.whole) {
      if (key !== undefined && this.firstKey !== undefined && key !== this.firstKey) {
        this.whole = false;
        this.held = [item];
        this.heldKey = key;
        return;
      }
      if (key !== undefined) this.firstKey = key;
      this.head.push(item);
      return;
    }
    if (key === undefined || key === this.heldKey) {
      this.held.push(item);
      return;
    }
    for (const h of this.held) this.middle(h);
    this.held = [item];
    this.heldKey = key;
  }

  end(): void {
    this.tail = this.held;
    this.held = [];
  }
}

/** Split a whole piece at once (see PieceSplitter). */
export function splitPiece(items: PieceItem[], keyOf: ((item: SourceItem) => string | undefined) | undefined) {
  const middle: PieceItem[] = [];
  const s = new PieceSplitter(keyOf, (item) => void middle.push(item));
  for (const item of items) s.push(item);
  s.end();
  return { head: s.head, middle, tail: s.tail, whole: s.whole };
}
