// Loads herald.v1.Meta with the options every Herald server uses (proto/load-options.json):
// once as grpc-js wants it, and once as protoc would describe it, for server reflection.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { join } from 'node:path';
import loadOptions from '../../proto/load-options.json';
import { asProtocDescriptors, PROTO_DIR } from '../../proto/load';
import type { ProtoGrpcType as MetaProto } from '../../proto/gen/meta';

export const META_PROTO = 'herald/v1/meta.proto';

export interface LoadedMeta {
  grpc: MetaProto;
  reflection: protoLoader.PackageDefinition;
}

let cached: LoadedMeta | undefined;

export function loadMetaProto(): LoadedMeta {
  if (cached) return cached;
  const files = [join(PROTO_DIR, META_PROTO), healthProtoPath];
  const options: protoLoader.Options = {
    ...loadOptions,
    longs: loadOptions.longs === 'String' ? String : Number,
    enums: loadOptions.enums === 'String' ? String : Number,
    includeDirs: [PROTO_DIR],
  };
  cached = {
    // The generated ProtoGrpcType describes what loadPackageDefinition returns for this file.
    grpc: grpc.loadPackageDefinition(protoLoader.loadSync(files, options)) as unknown as MetaProto,
    reflection: asProtocDescriptors(protoLoader.loadSync(files, { ...options, keepCase: true })),
  };
  return cached;
}
