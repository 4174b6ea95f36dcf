/**
 * A k6 script replaying recorded inbound gRPC calls with k6/net/grpc
 * (https://grafana.com/docs/k6/latest/javascript-api/k6-net-grpc/): unary
 * calls through client.invoke with a status check, streaming calls through
 * grpc.Stream. Sessions keep their recorded order; the schema is loaded from
 * the protosets or proto directories given, else by reflection.
 */
import { appendTo } from '../core/multimap.js';
import type { GrpcExchange } from '../core/exchange.js';
import type { GrpcDescriptors } from '../protocols/grpc/descriptors.js';
import { grpcEndpoint } from '../protocols/grpc/grpc-exchange.js';
import { exportedMessages, exportedMetadata } from './grpc-export-common.js';
import type { GrpcurlSchema } from './grpcurl.js';

export interface K6GrpcScriptBuilder {
  /** false with the reason when the call cannot be scripted */
  add(ex: GrpcExchange): { ok: true } | { ok: false; reason: string };
  readonly calls: number;
  render(): string;
}

const lit = (v: unknown) => JSON.stringify(v);

export function createK6GrpcScriptBuilder(descriptors: GrpcDescriptors | undefined, schema: GrpcurlSchema): K6GrpcScriptBuilder {
  const sessions = new Map<string, string[]>();
  let calls = 0;
  const usesStreams = { value: false };
  return {
    add(ex) {
      const messages = exportedMessages(ex, descriptors);
      if (!messages.ok) return { ok: false, reason: `k6 sends JSON and needs descriptors: ${messages.reason}` };
      const path = grpcEndpoint(ex);
      const m = descriptors?.method(path);
      const metadata = Object.fromEntries(exportedMetadata(ex));
      const params = `{ metadata: ${lit(metadata)}, tags: { name: ${lit(path)} } }`;
      const method = lit(path.slice(1));
      const expected = ex.grpc.response?.status;
      let code: string;
      if (m !== undefined && (m.isRequestStream || m.isResponseStream)) {
        usesStreams.value = true;
        code = `    {\n      const stream = new grpc.Stream(client, ${method}, ${params});\n`;
        code += `      stream.on('error', (e) => check(e, { ${lit(`${path} status is ${expected ?? 'none'}`)}: (x) => x.code === ${expected ?? -1} }));\n`;
        for (const j of messages.json) code += `      stream.write(${lit(j)});\n`;
        code += `      stream.end();\n    }\n`;
      } else {
        code = `    res = client.invoke(${method}, ${lit(messages.json[0] ?? {})}, ${params});\n`;
        if (expected !== undefined) code += `    check(res, { ${lit(`${path} status is ${expected}`)}: (r) => r && r.status === ${expected} });\n`;
      }
      appendTo(sessions, ex.session, code);
      calls++;
      return { ok: true };
    },
    get calls() {
      return calls;
    },
    render() {
      const reflect = schema.protosets.length === 0 && schema.protos.length === 0;
      const loads = [
        ...schema.protosets.map((p) => `client.loadProtoset(${lit(p)});`),
        ...schema.protos.map((d) => `client.load([${lit(d.dir)}], ${d.files.map(lit).join(', ')});`),
      ];
      const bodies = [...sessions.values()].map((codes, i) => `  // session ${i + 1}\n  {\n${codes.join('')}  }\n`);
      return [
        '// Recorded gRPC calls, replayed with k6/net/grpc. GRPC_TARGET is host:port; GRPC_PLAINTEXT=false for TLS.',
        "import grpc from 'k6/net/grpc';",
        "import { check } from 'k6';",
        '',
        'const client = new grpc.Client();',
        ...loads,
        "const TARGET = __ENV.GRPC_TARGET || '127.0.0.1:50051';",
        '',
        'export default function () {',
        `  client.connect(TARGET, { plaintext: __ENV.GRPC_PLAINTEXT !== 'false', reflect: ${reflect} });`,
        '  let res;',
        ...bodies,
        // Streams finish asynchronously; k6 closes the client at the end of the iteration.
        usesStreams.value ? '' : '  client.close();',
        '}',
        '',
      ].join('\n');
    },
  };
}
