/**
 * Message schemas of gRPC methods, from a protoset (a serialized
 * `google.protobuf.FileDescriptorSet`, `protoc --descriptor_set_out`),
 * `.proto` files, or server reflection (reflection.ts). With them a message
 * reads as ProtoJSON (the canonical proto3 JSON mapping grpcurl prints), so
 * the one path grammar applies to its fields; without, it stays bytes.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import protobuf from 'protobufjs';
import 'protobufjs/ext/descriptor.js';
import protojson from 'protobufjs/ext/protojson.js';
import { DoppelError } from '../../core/errors.js';

export interface GrpcMethodSchema {
  /** `/package.Service/Method` */
  path: string;
  requestType: protobuf.Type;
  responseType: protobuf.Type;
  isRequestStream: boolean;
  isResponseStream: boolean;
}

/** What judging, mocks, stubs and formats need from descriptors. */
export interface GrpcDescriptors {
  /** the method at `/package.Service/Method`, when known */
  method(path: string): GrpcMethodSchema | undefined;
  /** every known method path */
  methods(): string[];
  /** a message as ProtoJSON; throws when the bytes do not parse as the type */
  toJson(type: protobuf.Type, message: Buffer): unknown;
  /** ProtoJSON to message bytes; throws naming the first bad field */
  fromJson(type: protobuf.Type, json: unknown): Buffer;
}

export function descriptorsFromRoot(root: protobuf.Root): GrpcDescriptors {
  root.resolveAll();
  const byPath = new Map<string, GrpcMethodSchema>();
  const visit = (ns: protobuf.NamespaceBase): void => {
    for (const child of ns.nestedArray) {
      if (child instanceof protobuf.Service) {
        const svc = child.fullName.replace(/^\./, '');
        for (const m of child.methodsArray) {
          m.resolve();
          if (m.resolvedRequestType === null || m.resolvedResponseType === null) continue;
          const path = `/${svc}/${m.name}`;
          byPath.set(path, {
            path,
            requestType: m.resolvedRequestType,
            responseType: m.resolvedResponseType,
            isRequestStream: m.requestStream === true,
            isResponseStream: m.responseStream === true,
          });
        }
      }
      if (child instanceof protobuf.Namespace) visit(child);
    }
  };
  visit(root);
  return {
    method: (path) => byPath.get(path),
    methods: () => [...byPath.keys()].sort(),
    toJson: (type, message) => protojson.toJson(type, type.decode(message)) as unknown,
    fromJson: (type, json) => Buffer.from(type.encode(protojson.fromJson(type, json)).finish()),
  };
}

/** A root from serialized FileDescriptorSet bytes (protoset file or reflection answers). */
export function rootFromDescriptorSet(bytes: Uint8Array): protobuf.Root {
  return protobuf.Root.fromDescriptor(bytes);
}

export function listProtoFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.isFile() && entry.name.endsWith('.proto')) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

export interface LoadDescriptorOptions {
  /** protoset files (grpc.descriptors) */
  protosets?: readonly string[];
  /** directories of .proto files, each also an import root (grpc.protos) */
  protoDirs?: readonly string[];
}

/**
 * Loads every protoset and every `.proto` under the directories into one
 * root. A missing file, a bad protoset or a .proto that does not parse is
 * exit 2 naming the file (and the line, when protobufjs gives it).
 */
export function loadDescriptors(opts: LoadDescriptorOptions): GrpcDescriptors | undefined {
  const protosets = opts.protosets ?? [];
  const dirs = (opts.protoDirs ?? []).map((d) => resolve(d));
  if (protosets.length === 0 && dirs.length === 0) return undefined;
  const root = new protobuf.Root();
  for (const file of protosets) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch (err) {
      throw new DoppelError('DOPPEL_INPUT_INVALID', `grpc.descriptors: cannot read ${file}: ${(err as Error).message}`, { cause: err });
    }
    try {
      const set = rootFromDescriptorSet(bytes);
      for (const nested of set.nestedArray.slice()) {
        // Namespaces of the same name (google, a shared package) merge in protobufjs's add.
        set.remove(nested);
        root.add(nested);
      }
    } catch (err) {
      throw new DoppelError('DOPPEL_INPUT_INVALID', `grpc.descriptors: ${file} is not a protoset (a serialized FileDescriptorSet, protoc --descriptor_set_out): ${(err as Error).message}`, { cause: err });
    }
  }
  for (const dir of dirs) {
    try {
      if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    } catch (err) {
      throw new DoppelError('DOPPEL_INPUT_INVALID', `grpc.protos: ${dir}: ${(err as Error).message}`, { cause: err });
    }
  }
  // Imports resolve against every proto directory, as protoc's -I does.
  root.resolvePath = (_origin, target) => {
    for (const dir of dirs) {
      const candidate = resolve(dir, target);
      try {
        if (statSync(candidate).isFile()) return candidate;
      } catch {
        // try the next import root
      }
    }
    return target;
  };
  for (const dir of dirs) {
    for (const file of listProtoFiles(dir)) {
      try {
        root.loadSync(relative(dir, file), { keepCase: false });
      } catch (err) {
        throw new DoppelError('DOPPEL_INPUT_INVALID', `grpc.protos: ${file}: ${(err as Error).message}`, { cause: err });
      }
    }
  }
  try {
    return descriptorsFromRoot(root);
  } catch (err) {
    throw new DoppelError('DOPPEL_INPUT_INVALID', `grpc descriptors do not resolve: ${(err as Error).message}`, { cause: err });
  }
}

/** One message as JSON when descriptors know its method, else undefined with the reason. */
export function messageAsJson(
  descriptors: GrpcDescriptors | undefined,
  path: string,
  side: 'request' | 'response',
  message: Buffer,
): { json: unknown } | { reason: string } {
  if (descriptors === undefined) return { reason: 'no descriptors (grpc.descriptors, grpc.protos or grpc.reflection)' };
  const m = descriptors.method(path);
  if (m === undefined) return { reason: `descriptors do not define ${path}` };
  const type = side === 'request' ? m.requestType : m.responseType;
  try {
    return { json: descriptors.toJson(type, message) };
  } catch (err) {
    return { reason: `message does not parse as ${type.fullName.replace(/^\./, '')}: ${(err as Error).message}` };
  }
}
