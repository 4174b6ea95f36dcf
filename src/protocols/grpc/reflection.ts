/**
 * Descriptors from a live server through the gRPC server reflection
 * protocol (grpc/grpc proto grpc/reflection/v1/reflection.proto; v1alpha
 * has the same messages): list the services, ask for the file that defines
 * each one and for every file those import, then build one root.
 */
import { connect, constants, type ClientHttp2Session, type SecureClientSessionOptions } from 'node:http2';
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor.js';
import { DoppelError } from '../../core/errors.js';
import { descriptorsFromRoot, type GrpcDescriptors } from './descriptors.js';
import { encodeFrame, GrpcFrameDecoder } from './framing.js';
import { headerValue, onRawHeaders } from './metadata.js';
import { decodeGrpcMessage } from './status.js';

const reflectionJson = (pkg: string): protobuf.INamespace => ({
  nested: {
    grpc: {
      nested: {
        reflection: {
          nested: {
            [pkg]: {
              nested: {
                ServerReflectionRequest: {
                  oneofs: { messageRequest: { oneof: ['fileByFilename', 'fileContainingSymbol', 'listServices'] } },
                  fields: {
                    host: { type: 'string', id: 1 },
                    fileByFilename: { type: 'string', id: 3 },
                    fileContainingSymbol: { type: 'string', id: 4 },
                    listServices: { type: 'string', id: 7 },
                  },
                },
                ServerReflectionResponse: {
                  fields: {
                    fileDescriptorResponse: { type: 'FileDescriptorResponse', id: 4 },
                    listServicesResponse: { type: 'ListServiceResponse', id: 6 },
                    errorResponse: { type: 'ErrorResponse', id: 7 },
                  },
                },
                FileDescriptorResponse: { fields: { fileDescriptorProto: { rule: 'repeated', type: 'bytes', id: 1 } } },
                ListServiceResponse: { fields: { service: { rule: 'repeated', type: 'ServiceResponse', id: 1 } } },
                ServiceResponse: { fields: { name: { type: 'string', id: 1 } } },
                ErrorResponse: { fields: { errorCode: { type: 'int32', id: 1 }, errorMessage: { type: 'string', id: 2 } } },
              },
            },
          },
        },
      },
    },
  },
});

interface ReflectionResponse {
  fileDescriptorResponse?: { fileDescriptorProto?: Uint8Array[] };
  listServicesResponse?: { service?: Array<{ name?: string }> };
  errorResponse?: { errorCode?: number; errorMessage?: string };
}

class ReflectionUnavailable extends Error {}

/** One request on its own stream of the bidi method: send, half-close, read the one answer. */
function ask(session: ClientHttp2Session, pkg: string, request: Record<string, string>): Promise<ReflectionResponse> {
  const root = protobuf.Root.fromJSON(reflectionJson(pkg));
  const Req = root.lookupType(`grpc.reflection.${pkg}.ServerReflectionRequest`);
  const Res = root.lookupType(`grpc.reflection.${pkg}.ServerReflectionResponse`);
  return new Promise((resolvePromise, reject) => {
    const stream = session.request({
      [constants.HTTP2_HEADER_METHOD]: 'POST',
      [constants.HTTP2_HEADER_PATH]: `/grpc.reflection.${pkg}.ServerReflection/ServerReflectionInfo`,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const decoder = new GrpcFrameDecoder();
    let answer: ReflectionResponse | undefined;
    let headers: Array<[string, string]> = [];
    onRawHeaders(stream, 'response', (pairs) => {
      headers = pairs;
    });
    stream.on('data', (chunk: Buffer) => {
      for (const f of decoder.push(chunk)) answer ??= Res.toObject(Res.decode(f.data), { defaults: false }) as ReflectionResponse;
    });
    let trailers: Array<[string, string]> = [];
    onRawHeaders(stream, 'trailers', (pairs) => {
      trailers = pairs;
    });
    stream.on('error', reject);
    stream.on('close', () => {
      const status = headerValue(trailers, 'grpc-status') ?? headerValue(headers, 'grpc-status');
      if (answer !== undefined) resolvePromise(answer);
      else if (status === '12') reject(new ReflectionUnavailable(`reflection ${pkg} not served`));
      else reject(new Error(`reflection answered grpc-status ${status ?? 'none'}: ${decodeGrpcMessage(headerValue(trailers, 'grpc-message') ?? headerValue(headers, 'grpc-message'))}`));
    });
    stream.end(encodeFrame(Buffer.from(Req.encode(Req.fromObject(request)).finish())));
  });
}

function fileName(bytes: Uint8Array): { name: string; deps: string[] } {
  const f = descriptor.FileDescriptorProto.decode(bytes) as unknown as { name?: string; dependency?: string[] };
  return { name: f.name ?? '', deps: f.dependency ?? [] };
}

/**
 * Descriptors of every service a target reflects. A target without
 * reflection, or one that cannot be reached, is exit 2 naming it.
 */
export async function loadReflectedDescriptors(target: string, tls: SecureClientSessionOptions = {}): Promise<GrpcDescriptors> {
  const session = connect(target, tls);
  session.on('error', () => {
    // surfaced by the stream that was waiting
  });
  try {
    for (const pkg of ['v1', 'v1alpha']) {
      try {
        return await reflectWith(session, pkg);
      } catch (err) {
        if (!(err instanceof ReflectionUnavailable)) throw err;
      }
    }
    throw new ReflectionUnavailable('the target serves neither grpc.reflection.v1 nor v1alpha');
  } catch (err) {
    throw new DoppelError('DOPPEL_INPUT_INVALID', `grpc.reflection: ${target}: ${(err as Error).message}`, { cause: err });
  } finally {
    session.close();
  }
}

async function reflectWith(session: ClientHttp2Session, pkg: string): Promise<GrpcDescriptors> {
  const list = await ask(session, pkg, { listServices: '' });
  const services = (list.listServicesResponse?.service ?? []).map((s) => s.name ?? '').filter((n) => n !== '' && !n.startsWith('grpc.reflection.'));
  const files = new Map<string, Uint8Array>();
  const wanted: string[] = [];
  const take = (res: ReflectionResponse): void => {
    if (res.errorResponse !== undefined) throw new Error(`reflection error ${res.errorResponse.errorCode ?? ''}: ${res.errorResponse.errorMessage ?? ''}`);
    for (const bytes of res.fileDescriptorResponse?.fileDescriptorProto ?? []) {
      const f = fileName(bytes);
      if (files.has(f.name)) continue;
      files.set(f.name, bytes);
      wanted.push(...f.deps);
    }
  };
  for (const svc of services) take(await ask(session, pkg, { fileContainingSymbol: svc }));
  for (let name = wanted.shift(); name !== undefined; name = wanted.shift()) {
    if (!files.has(name)) take(await ask(session, pkg, { fileByFilename: name }));
  }
  // A FileDescriptorSet is field 1 repeated of FileDescriptorProto: the files' bytes, each length-delimited.
  const w = protobuf.Writer.create();
  for (const bytes of files.values()) w.uint32(10).bytes(bytes);
  return descriptorsFromRoot(protobuf.Root.fromDescriptor(w.finish()));
}
