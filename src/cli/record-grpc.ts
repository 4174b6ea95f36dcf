/**
 * The gRPC listeners of `doppel record`: the inbound listener when
 * `record.protocol` is grpc, and one port per `record.grpc_deps` entry.
 * Each is an HTTP/2 capture server (capture/grpc-capture.ts) writing
 * whole exchanges through one bounded sink.
 */
import type { HttpDepConfig } from '../config/schema.js';
import { createExchangeSink, type ExchangeSink } from '../capture/exchange-sink.js';
import { startGrpcCapture, type GrpcCapture } from '../capture/grpc-capture.js';
import type { SessionKeyer } from '../core/sessions.js';
import type { ServerTls, TargetTls } from '../core/tls.js';
import { usageError } from '../core/errors.js';
import type { ExchangeWriter } from '../store/types.js';
import type { RecordShared } from './record-shared.js';

export function createGrpcSink(shared: RecordShared, writer: ExchangeWriter, maxPendingBytes: number): ExchangeSink {
  return createExchangeSink({
    writer,
    metrics: shared.daemon.metrics,
    log: shared.daemon.log.child({ component: 'grpc-recorder' }),
    maxPendingBytes,
    isPaused: () => shared.recorder.isPaused,
  });
}

export async function startGrpcInbound(
  shared: RecordShared,
  sink: ExchangeSink,
  sessionKeyer: SessionKeyer,
  upstream: string,
  tls: ServerTls | undefined,
  targetTls: TargetTls | undefined,
): Promise<GrpcCapture> {
  const rec = shared.config.record;
  return startGrpcCapture({
    listen: rec.listen,
    listenFlag: '--listen ADDR (record.listen)',
    target: upstream,
    tls,
    targetTls,
    service: rec.service,
    direction: 'inbound',
    sink,
    redactor: shared.redactor,
    sessionKeyer,
    maxBodyBytes: shared.maxBodyBytes,
    log: shared.daemon.log,
  });
}

export async function startGrpcDeps(shared: RecordShared, sink: ExchangeSink, sessionKeyer: SessionKeyer, deps: readonly HttpDepConfig[]): Promise<GrpcCapture[]> {
  const out: GrpcCapture[] = [];
  for (const dep of deps) {
    if (dep.target === undefined) throw usageError(`--grpc-dep ${dep.name}: record needs the real server's URL (NAME=LISTEN,http://HOST:PORT)`);
    out.push(
      await startGrpcCapture({
        listen: dep.listen,
        listenFlag: `--grpc-dep ${dep.name}=LISTEN,TARGET_URL (record.grpc_deps)`,
        target: dep.target,
        targetTls: shared.daemon.targetTls(dep.target_tls, `record.grpc_deps[${dep.name}].target_tls`),
        service: dep.name,
        direction: 'outbound',
        sink,
        redactor: shared.redactor,
        sessionKeyer,
        maxBodyBytes: shared.maxBodyBytes,
        log: shared.daemon.log,
      }),
    );
  }
  return out;
}
