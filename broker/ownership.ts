// Who serves a topic partition. Standalone mode owns every partition of every configured
// topic; the lease-based implementation (meta-server, epochs) plugs in here later.
import type { PartitionRef } from '../storage/storage';

export type Owner = { owned: true } | { owned: false; address?: string };

export interface Ownership {
  owner(ref: PartitionRef): Owner;
}

export class StandaloneOwnership implements Ownership {
  owner(): Owner {
    return { owned: true };
  }
}
