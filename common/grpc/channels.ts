// The one place Herald opens gRPC channels: the SDK's broker connections, the Meta connection and
// lease clients, and broker-to-broker forwarding. One channel per address, shared by every stub
// on it, with the same credentials, keepalive, message limits and HTTP/2 flow-control window.
import * as grpc from '@grpc/grpc-js';
import { SERVER_DEFAULTS } from './server';

export interface ChannelSetup {
  /** Called once per new channel (so that TLS can hand fresh credentials); insecure when unset. */
  credentials?: () => grpc.ChannelCredentials;
  /** Largest response accepted; matches what Herald servers send at most. */
  maxReceiveMessageBytes: number;
  /** Largest request sent; matches what Herald servers accept. */
  maxSendMessageBytes: number;
  /** Pings after this much idle time, also with no call in flight, to find dead connections. */
  keepaliveTimeMs: number;
  keepaliveTimeoutMs: number;
  /** grpc-node's HTTP/2 window: larger than the 64 KiB default, for batches and streams. */
  flowControlWindowBytes: number;
}

export const CHANNEL_DEFAULTS: ChannelSetup = {
  maxReceiveMessageBytes: SERVER_DEFAULTS.limits.maxSendMessageBytes,
  maxSendMessageBytes: SERVER_DEFAULTS.limits.maxReceiveMessageBytes,
  // Herald servers are grpc-js servers, which permit pings without calls (server.ts).
  keepaliveTimeMs: 30_000,
  keepaliveTimeoutMs: 10_000,
  flowControlWindowBytes: 4 * 1024 * 1024,
};

/** The grpc-js options of a setup. Pure. */
export function channelOptions(setup: ChannelSetup): grpc.ChannelOptions {
  return {
    'grpc.max_receive_message_length': setup.maxReceiveMessageBytes,
    'grpc.max_send_message_length': setup.maxSendMessageBytes,
    'grpc.keepalive_time_ms': setup.keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': setup.keepaliveTimeoutMs,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc-node.flow_control_window': setup.flowControlWindowBytes,
  };
}

/** A generated client class (loadProtos().grpc.herald.v1.Broker and the like). */
export type ClientClass<C extends grpc.Client> = new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
) => C;

interface Entry {
  channel: grpc.Channel;
  stubs: Map<ClientClass<grpc.Client>, grpc.Client>;
}

/** Channels per address and the stubs on them, until close(). */
export class Channels {
  private readonly setup: ChannelSetup;
  private readonly options: grpc.ChannelOptions;
  private readonly entries = new Map<string, Entry>();

  constructor(setup: Partial<ChannelSetup> = {}) {
    this.setup = { ...CHANNEL_DEFAULTS, ...setup };
    this.options = channelOptions(this.setup);
  }

  /** The stub of `Client` for `address`, on the address's one channel. */
  client<C extends grpc.Client>(Client: ClientClass<C>, address: string): C {
    let entry = this.entries.get(address);
    if (!entry) {
      const credentials = this.setup.credentials?.() ?? grpc.credentials.createInsecure();
      entry = { channel: new grpc.Channel(address, credentials, this.options), stubs: new Map() };
      this.entries.set(address, entry);
    }
    let stub = entry.stubs.get(Client);
    if (!stub) {
      // The stub's own credentials are unused: it runs on the shared channel.
      stub = new Client(address, grpc.credentials.createInsecure(), { channelOverride: entry.channel });
      entry.stubs.set(Client, stub);
    }
    return stub as C;
  }

  /** Closes every channel; stubs made before fail from now on, new ones get new channels. */
  close(): void {
    for (const e of this.entries.values()) e.channel.close();
    this.entries.clear();
  }
}
