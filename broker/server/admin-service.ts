// herald.v1.Admin handlers.
import type { AdminHandlers } from '../../proto/gen/herald/v1/Admin';
import type { Delivery } from '../delivery/delivery';
import { toServiceError } from './status';

export function adminHandlers(delivery: Delivery): AdminHandlers {
  return {
    GetLag(call, callback) {
      delivery.lag(call.request.group, call.request.topic).then(
        (partitions) =>
          callback(null, {
            partitions: partitions.map((p) => ({
              partition: p.partition,
              endOffset: p.endOffset,
              committedOffset: p.committedOffset,
              lag: p.lag,
              inFlight: p.inFlight,
            })),
          }),
        (err: unknown) => callback(toServiceError(err)),
      );
    },
  };
}
