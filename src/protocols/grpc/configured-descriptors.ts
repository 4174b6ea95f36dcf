/**
 * The descriptors a command works with, from the `grpc:` config section:
 * protoset files and .proto directories (relative to the working
 * directory), or the target's server reflection when `grpc.reflection` is
 * on and the command has a gRPC target to ask.
 */
import { resolve } from 'node:path';
import type { SecureClientSessionOptions } from 'node:http2';
import type { GrpcConfig } from '../../config/schema.js';
import { loadDescriptors, type GrpcDescriptors } from './descriptors.js';
import { loadReflectedDescriptors } from './reflection.js';

export async function configuredDescriptors(
  cfg: Readonly<GrpcConfig>,
  cwd: string,
  reflectFrom?: { url: string; tls?: SecureClientSessionOptions },
): Promise<GrpcDescriptors | undefined> {
  const files = loadDescriptors({ protosets: cfg.descriptors.map((f) => resolve(cwd, f)), protoDirs: cfg.protos.map((d) => resolve(cwd, d)) });
  if (files !== undefined || !cfg.reflection || reflectFrom === undefined) return files;
  return loadReflectedDescriptors(reflectFrom.url, reflectFrom.tls);
}
