// The one place that loads Herald's .proto files at run time, with the same options the
// type generator used (proto/load-options.json), so the generated types in proto/gen
// describe exactly the objects grpc-js hands to handlers and clients.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { join } from 'node:path';
import loadOptions from './load-options.json';
import type { ProtoGrpcType as AdminProto } from './gen/admin';
import type { ProtoGrpcType as BrokerProto } from './gen/broker';

/** The .proto files of the public API, relative to the proto/ folder. */
export const PROTO_FILES = ['herald/v1/broker.proto', 'herald/v1/admin.proto'];

export const PROTO_DIR = __dirname.endsWith(join('dist', 'proto'))
  ? join(__dirname, '..', '..', 'proto')
  : __dirname;

export type HeraldProto = BrokerProto & AdminProto;

export interface LoadedProtos {
  /** For grpc-js servers and clients. */
  grpc: HeraldProto;
  /** For server reflection, which describes exactly what was loaded (grpc.health.v1 included). */
  definition: protoLoader.PackageDefinition;
}

let cached: LoadedProtos | undefined;

export function loadProtos(): LoadedProtos {
  if (cached) return cached;
  const definition = protoLoader.loadSync([...PROTO_FILES.map((f) => join(PROTO_DIR, f)), healthProtoPath], {
    ...loadOptions,
    longs: loadOptions.longs === 'String' ? String : Number,
    enums: loadOptions.enums === 'String' ? String : Number,
    includeDirs: [PROTO_DIR],
  });
  // The generated ProtoGrpcType describes what loadPackageDefinition returns for these files.
  cached = { grpc: grpc.loadPackageDefinition(definition) as unknown as HeraldProto, definition };
  return cached;
}
