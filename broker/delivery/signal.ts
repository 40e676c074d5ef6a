// A wake-up signal for waiters (long polls, subscriptions). `version` grows on every
// notify, so a waiter that read the version before looking for work can tell whether it
// missed a notification while it looked, and must look again instead of sleeping.
//
// A waiter may pass `ready`: a notify then wakes it only when `ready()` holds, and otherwise
// leaves it waiting without allocating anything (a commit or an ack that gives this reader
// nothing to take costs a call of `ready`, not a trip through the reader's async loop).

interface Waiter {
  ready: (() => boolean) | undefined;
  done: () => void;
}

export class Signal {
  version = 0;
  private waiters = new Set<Waiter>();

  notify(): void {
    this.version++;
    // Deleting the entry being visited is safe in a Set's iteration; `done` deletes it.
    for (const w of this.waiters) if (w.ready === undefined || w.ready()) w.done();
  }

  /**
   * Resolves on the next notify (for which `ready()` holds, when given), after timeoutMs, or
   * when `abort` fires; never rejects. `ready` is not asked at the start: the caller looked.
   */
  wait(timeoutMs: number, abort?: AbortSignal, ready?: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      if (abort?.aborted) return resolve();
      let timer: NodeJS.Timeout | undefined;
      const waiter: Waiter = {
        ready,
        done: () => {
          this.waiters.delete(waiter);
          if (timer) clearTimeout(timer);
          abort?.removeEventListener('abort', waiter.done);
          resolve();
        },
      };
      this.waiters.add(waiter);
      if (Number.isFinite(timeoutMs)) timer = setTimeout(waiter.done, Math.max(0, timeoutMs));
      abort?.addEventListener('abort', waiter.done, { once: true });
    });
  }
}
