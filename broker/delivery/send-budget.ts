// The bytes of deliveries handed to subscription transports and not yet flushed by them, all
// streams of a broker together (delivery.maxUnsentBytes). grpc-js buffers up to 16 responses
// per stream before `write` says stop, and a consumer's credits let that be thousands of
// messages: a mid-drain heap snapshot found most of the broker's live Buffers there. Over the
// budget, a stream takes nothing more until its own or others' writes flush; a stream with
// nothing unsent may always write, so a stalled reader holding the budget slows the others
// but cannot stop them. Bytes are taken when handed to a transport and released when it
// flushed them (or dropped them with its call). Pure; unit-tested.
import { ByteBudget } from '../byte-budget';

export class SendBudget extends ByteBudget {
  /** Whether a stream with `own` bytes unsent may write more now. */
  allows(own: number): boolean {
    return own === 0 || this.bytes < this.limit;
  }

  /** Resolves once `allows(own())` holds (checked at every release), or when `abort` fires. */
  room(own: () => number, abort: AbortSignal): Promise<void> {
    if (this.allows(own()) || abort.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        cancel();
        abort.removeEventListener('abort', done);
        resolve();
      };
      const cancel = this.afterRelease(() => this.allows(own()), done);
      abort.addEventListener('abort', done, { once: true });
    });
  }
}
