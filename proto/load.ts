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
import type { ProtoGrpcType as MetaProto } from './gen/meta';

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

interface Loaded<T> {
  grpc: T;
  reflection: protoLoader.PackageDefinition;
}

/** Loads .proto files (and grpc.health.v1) twice: for grpc-js, and as protoc would describe them. */
function loadFiles<T>(protoFiles: string[]): Loaded<T> {
  const files = [...protoFiles.map((f) => join(PROTO_DIR, f)), healthProtoPath];
  const options: protoLoader.Options = {
    ...loadOptions,
    longs: loadOptions.longs === 'String' ? String : Number,
    enums: loadOptions.enums === 'String' ? String : Number,
    includeDirs: [PROTO_DIR],
  };
  return {
    // The generated ProtoGrpcType describes what loadPackageDefinition returns for these files.
    grpc: grpc.loadPackageDefinition(protoLoader.loadSync(files, options)) as unknown as T,
    reflection: asProtocDescriptors(protoLoader.loadSync(files, { ...options, keepCase: true })),
  };
}

let cached: LoadedProtos | undefined;

export function loadProtos(): LoadedProtos {
  return (cached ??= loadFiles<HeraldProto>(PROTO_FILES));
}

/** herald.v1.Meta, served by the operator and called by brokers and clients. */
export const META_PROTO = 'herald/v1/meta.proto';

export type LoadedMeta = Loaded<MetaProto>;

let cachedMeta: LoadedMeta | undefined;

export function loadMetaProto(): LoadedMeta {
  return (cachedMeta ??= loadFiles<MetaProto>([META_PROTO]));
}

/**
 * Makes the served descriptors what protoc would produce, which strict readers (the Go
 * runtime behind grpcurl) require:
 * - protobufjs names the implicit message of `map<K, V> properties` "Properties" where protoc
 *   says "PropertiesEntry" (see fullstorydev/grpcurl#519);
 * - it copies field names into json_name unchanged (protoc: lowerCamelCase);
 * - it leaves type references relative and files without their `dependency` list, so a field
 *   of a type from another package (google.rpc.Status) cannot be resolved (grpc-node#2595).
 */
function asProtocDescriptors(definition: protoLoader.PackageDefinition): protoLoader.PackageDefinition {
  const files = new Map<Buffer, IFileDescriptorProto>();
  for (const def of Object.values(definition)) {
    // Services carry no descriptors of their own; @grpc/reflection reads the message types'.
    for (const bytes of fileDescriptorProtos(def)) {
      if (!files.has(bytes))
        files.set(bytes, descriptor.FileDescriptorProto.decode(bytes) as IFileDescriptorProto);
    }
  }
  for (const file of files.values()) (file.messageType ?? []).forEach(fixMessage);
  // Fully qualified name (no leading dot) of every message and enum -> the file defining it.
  const symbols = new Map<string, IFileDescriptorProto>();
  const index = (scope: string, messages: IDescriptorProto[], file: IFileDescriptorProto) => {
    for (const m of messages) {
      const name = `${scope}${m.name}`;
      symbols.set(name, file);
      for (const e of m.enumType ?? []) symbols.set(`${name}.${e.name}`, file);
      index(`${name}.`, m.nestedType ?? [], file);
    }
  };
  for (const file of files.values()) {
    const pkg = file.package ? `${file.package}.` : '';
    index(pkg, file.messageType ?? [], file);
    for (const e of file.enumType ?? []) symbols.set(`${pkg}${e.name}`, file);
  }
  for (const file of files.values()) {
    const deps = new Set<string>();
    const resolve = (ref: string | undefined, scope: string): string | undefined => {
      if (!ref) return ref;
      let found: string | undefined;
      if (ref.startsWith('.')) found = ref.slice(1);
      for (let s = scope; found === undefined; s = s.slice(0, Math.max(0, s.lastIndexOf('.')))) {
        if (symbols.has(s ? `${s}.${ref}` : ref)) found = s ? `${s}.${ref}` : ref;
        else if (!s) break;
      }
      if (found === undefined) return ref;
      const target = symbols.get(found);
      if (target && target !== file && target.name) deps.add(target.name);
      return `.${found}`;
    };
    const visit = (scope: string, messages: IDescriptorProto[]) => {
      for (const m of messages) {
        const name = scope ? `${scope}.${m.name}` : (m.name ?? '');
        for (const f of m.field ?? []) f.typeName = resolve(f.typeName, name);
        visit(name, m.nestedType ?? []);
      }
    };
    visit(file.package ?? '', file.messageType ?? []);
    for (const service of file.service ?? []) {
      for (const method of service.method ?? []) {
        method.inputType = resolve(method.inputType, file.package ?? '');
        method.outputType = resolve(method.outputType, file.package ?? '');
      }
    }
    file.dependency = [...deps];
  }
  const rewritten = new Map<Buffer, Buffer>();
  for (const [bytes, file] of files)
    rewritten.set(bytes, Buffer.from(descriptor.FileDescriptorProto.encode(file).finish()));
  const result: protoLoader.PackageDefinition = {};
  for (const [name, def] of Object.entries(definition)) {
    const protos = fileDescriptorProtos(def);
    result[name] =
      protos.length > 0
        ? ({
            ...def,
            fileDescriptorProtos: protos.map((b) => rewritten.get(b)!),
          } as protoLoader.AnyDefinition)
        : def;
  }
  return result;
}

function fileDescriptorProtos(def: protoLoader.AnyDefinition): Buffer[] {
  const protos = (def as Partial<protoLoader.ProtobufTypeDefinition>).fileDescriptorProtos;
  return Array.isArray(protos) ? protos : [];
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
