// The one place that loads Herald's .proto files at run time, with the same options the
// type generator used (proto/load-options.json), so the generated types in proto/gen
// describe exactly the objects grpc-js hands to handlers and clients.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { join } from 'node:path';
import * as descriptor from 'protobufjs/ext/descriptor';
import type { IDescriptorProto, IFileDescriptorProto } from 'protobufjs/ext/descriptor';
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
  /**
   * For server reflection: the same files (grpc.health.v1 included) with the field names as
   * written in the .proto files and map entries named as protoc names them.
   */
  reflection: protoLoader.PackageDefinition;
}

let cached: LoadedProtos | undefined;

export function loadProtos(): LoadedProtos {
  if (cached) return cached;
  const files = [...PROTO_FILES.map((f) => join(PROTO_DIR, f)), healthProtoPath];
  const options: protoLoader.Options = {
    ...loadOptions,
    longs: loadOptions.longs === 'String' ? String : Number,
    enums: loadOptions.enums === 'String' ? String : Number,
    includeDirs: [PROTO_DIR],
  };
  const definition = protoLoader.loadSync(files, options);
  cached = {
    // The generated ProtoGrpcType describes what loadPackageDefinition returns for these files.
    grpc: grpc.loadPackageDefinition(definition) as unknown as HeraldProto,
    reflection: asProtocDescriptors(protoLoader.loadSync(files, { ...options, keepCase: true })),
  };
  return cached;
}

/**
 * Makes the served descriptors what protoc would produce, which strict readers (the Go
 * runtime behind grpcurl) require: protobufjs names the implicit message of
 * `map<K, V> properties` "Properties" where protoc says "PropertiesEntry" (see
 * fullstorydev/grpcurl#519), and copies field names into json_name unchanged.
 */
export function asProtocDescriptors(
  definition: protoLoader.PackageDefinition,
): protoLoader.PackageDefinition {
  const rewritten = new Map<Buffer, Buffer>();
  const fix = (bytes: Buffer): Buffer => {
    let out = rewritten.get(bytes);
    if (!out) {
      const file = descriptor.FileDescriptorProto.decode(bytes) as IFileDescriptorProto;
      (file.messageType ?? []).forEach(fixMessage);
      out = Buffer.from(descriptor.FileDescriptorProto.encode(file).finish());
      rewritten.set(bytes, out);
    }
    return out;
  };
  const result: protoLoader.PackageDefinition = {};
  for (const [name, def] of Object.entries(definition)) {
    // Services carry no descriptors of their own; @grpc/reflection reads the message types'.
    const protos = (def as Partial<protoLoader.ProtobufTypeDefinition>).fileDescriptorProtos;
    result[name] = Array.isArray(protos)
      ? ({ ...def, fileDescriptorProtos: protos.map(fix) } as protoLoader.AnyDefinition)
      : def;
  }
  return result;
}

function fixMessage(message: IDescriptorProto): void {
  for (const f of message.field ?? [])
    if (f.name) f.jsonName = f.name.replace(/_(\w)/g, (_m, c: string) => c.toUpperCase());
  for (const nested of message.nestedType ?? []) {
    if (nested.options?.mapEntry && nested.name && !nested.name.endsWith('Entry')) {
      const old = nested.name;
      nested.name = `${old}Entry`;
      for (const f of message.field ?? []) if (f.typeName === old) f.typeName = nested.name;
    }
    fixMessage(nested);
  }
}
