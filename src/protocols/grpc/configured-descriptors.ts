/**
 * The descriptors a command works with, from the `grpc:` config section:
 * protoset files and .proto directories (relative to the working
 * directory), or the target's server reflection when `grpc.reflection` is
 * on and the command has a gRPC target to ask.
 */
import { resolve } from 'node:path';
import type { SecureClientSessionOptions } from 'node:http2';
import { loadDescriptors, type GrpcDescriptors } from './descriptors.js';
import { loadReflectedDescriptors } from './reflection.js';

/** The `grpc:` config section as this module reads it (config/ sits beside protocols/, so not imported). */
export interface DescriptorSources {
  readonly descriptors: readonly string[];
  readonly protos: readonly string[];
  readonly reflection: boolean;
}

export async function configuredDescriptors(
  cfg: DescriptorSources,
  cwd: string,
  reflectFrom?: { url: string; tls?: SecureClientSessionOptions },
): Promise<GrpcDescriptors | undefined> {
  const files = loadDescriptors({ protosets: cfg.descriptors.map((f) => resolve(cwd, f)), protoDirs: cfg.protos.map((d) => resolve(cwd, d)) });
  if (files !== undefined || !cfg.reflection || reflectFrom === undefined) return files;
  return loadReflectedDescriptors(reflectFrom.url, reflectFrom.tls);
}
