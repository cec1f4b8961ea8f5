/**
 * Saving a notebook one save at a time.
 *
 * Why: JupyterLab's `context.save()` checks the file on disk (GET with its hash), writes it (PUT),
 * then reads its hash again, and only then records that hash as "ours". A second save started
 * in between finds the first one's file on disk with a hash it does not know, takes it for a
 * change made by someone else and asks "overwrite or revert?" instead of writing: the second
 * of two quick editor actions never reached the file. So a save waits for the one in flight.
 *
 * Structural types only (no JupyterLab import), so it runs in Node.
 */

export interface Savable {
  save(): Promise<void>;
  /** JupyterLab's saveState: "started", then "completed" or "failed" */
  readonly saveState: { connect(slot: (sender: unknown, state: string) => void): unknown };
}

class SaveQueue {
  private running = 0;
  private waiting: (() => void)[] = [];
  private last: Promise<void> = Promise.resolve();

  constructor(private readonly doc: Savable) {
    // saves started elsewhere (Ctrl+S, autosave) count too
    doc.saveState.connect((_, state) => {
      if (state === "started") this.running++;
      else if (this.running > 0 && --this.running === 0) for (const go of this.waiting.splice(0)) go();
    });
  }

  save(): Promise<void> {
    const idle = (): Promise<void> =>
      this.running ? new Promise((go) => this.waiting.push(go)) : Promise.resolve();
    const next = this.last.catch(() => undefined).then(idle).then(() => this.doc.save());
    this.last = next;
    return next;
  }
}

const queues = new WeakMap<Savable, SaveQueue>();

/** Save `doc` once no other save of it is in flight (call it once early to watch every save). */
export function saveInTurn(doc: Savable): Promise<void> {
  let q = queues.get(doc);
  if (!q) queues.set(doc, (q = new SaveQueue(doc)));
  return q.save();
}

/** Start watching `doc`'s saves without saving it. */
export function watchSaves(doc: Savable): void {
  if (!queues.has(doc)) queues.set(doc, new SaveQueue(doc));
}
