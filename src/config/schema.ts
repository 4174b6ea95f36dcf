/**
 * The one schema of doppel's configuration: types, validation and defaults
 * come from here. `expected` on a node is the sentence shown when a value
 * does not fit, so messages name what was wanted, not JSON-schema jargon.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import { Type } from './typebox.js';

const DURATION_PATTERN = '^\\s*\\d+(\\.\\d+)?\\s*(ms|s|m|h|d)?\\s*$';
const SIZE_PATTERN = '^\\s*\\d+(\\.\\d+)?\\s*([kKmMgG][bB]?|[bB])?\\s*$';
const ADDR_PATTERN = '^(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9_.-]+):\\d{1,5}$';

const Duration = (def?: string) =>
  Type.Union([Type.Number({ minimum: 0 }), Type.String({ pattern: DURATION_PATTERN })], {
    expected: 'a duration like "500ms", "5s", "2m" or a number of seconds',
    ...(def === undefined ? {} : { default: def }),
  });
const Size = (def?: string) =>
  Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: SIZE_PATTERN })], {
    expected: 'a size like "64kb", "16mb" or a number of bytes',
    ...(def === undefined ? {} : { default: def }),
  });
const Addr = (def?: string) =>
  Type.String({ pattern: ADDR_PATTERN, expected: 'an address host:port, e.g. 127.0.0.1:8080', ...(def === undefined ? {} : { default: def }) });
const Url = () => Type.String({ pattern: '^https?://', expected: 'an http:// or https:// URL' });
const Rate = (def?: number) =>
  Type.Number({ minimum: 0, maximum: 1, expected: 'a number from 0 to 1', ...(def === undefined ? {} : { default: def }) });
const Paths = () =>
  Type.Union([Type.String(), Type.Array(Type.String())], { expected: 'a path or a list of paths' });
const StringMap = () => Type.Record(Type.String(), Type.String(), { expected: 'a map of names to strings' });
const Strict = <T extends Record<string, TSchema>>(props: T, opts: Record<string, unknown> = {}) =>
  Type.Object(props, { additionalProperties: false, ...opts });

/** `tls:` of a listener (docs/tls.md). */
const ListenerTls = () =>
  Type.Optional(
    Strict(
      {
        cert: Type.Optional(Type.String({ expected: 'a PEM certificate file (chain after the leaf)' })),
        key: Type.Optional(Type.String({ expected: 'the PEM private key file of cert' })),
        generate: Type.Boolean({ default: false, expected: 'true to serve a self-signed certificate made at start (its fingerprint is logged)' }),
      },
      { expected: 'a map { cert, key } or { generate: true }' },
    ),
  );
/** `*_tls:` of an outbound target (docs/tls.md). */
const TargetTls = () =>
  Type.Optional(
    Strict(
      {
        ca: Type.Optional(Type.String({ expected: 'a PEM file of the CA certificates that signed the target' })),
        cert: Type.Optional(Type.String({ expected: 'a PEM client certificate file' })),
        key: Type.Optional(Type.String({ expected: 'the PEM private key file of the client certificate' })),
        insecure: Type.Boolean({ default: false, expected: 'true to accept any certificate (self-signed, wrong name)' }),
      },
      { expected: 'a map { ca, cert, key, insecure }' },
    ),
  );

const Filters = {
  include: Type.Optional(Type.Array(Type.String(), { expected: 'a list like ["GET /orders/*"]' })),
  exclude: Type.Optional(Type.Array(Type.String(), { expected: 'a list like ["GET /healthz"]' })),
};

export const HttpDepSchema = Strict({
  name: Type.String({ minLength: 1 }),
  listen: Addr(),
  target: Type.Optional(Url()),
  target_tls: TargetTls(),
  target_http2: Type.Boolean({ default: false, expected: 'true to send every request to the target over HTTP/2 (h2c prior knowledge for http://, ALPN h2 for https://), HTTP/1.1 ones too' }),
});

export const PgDepSchema = Strict({
  name: Type.String({ minLength: 1 }),
  listen: Addr(),
  target: Type.Optional(Type.String({ pattern: ADDR_PATTERN, expected: 'a Postgres server host:port' })),
});

export const AdminSchema = Strict(
  {
    listen: Addr('127.0.0.1:4190'),
    enabled: Type.Boolean({ default: true }),
    tls: ListenerTls(),
  },
  { default: {} },
);

export const RecordSchema = Strict(
  {
    out: Type.Optional(Type.String()),
    listen: Addr('127.0.0.1:0'),
    tls: ListenerTls(),
    upstream: Type.Optional(Url()),
    upstream_tls: TargetTls(),
    upstream_http2: Type.Boolean({ default: false, expected: 'true to send every request to the upstream over HTTP/2 (h2c prior knowledge for http://, ALPN h2 for https://), HTTP/1.1 ones too' }),
    service: Type.String({ minLength: 1, default: 'app', expected: 'the name of the service behind the inbound proxy (who answers)' }),
    rewrite_host: Type.Boolean({
      default: false,
      expected: 'true to send the upstream\'s host as Host instead of the client\'s (dependency ports always do)',
    }),
    protocol: Type.Union([Type.Literal('http'), Type.Literal('grpc')], {
      default: 'http',
      expected: '"http" or "grpc" (the inbound listener speaks HTTP/2 and records gRPC calls)',
    }),
    http_deps: Type.Array(HttpDepSchema, { default: [] }),
    grpc_deps: Type.Array(HttpDepSchema, { default: [], expected: 'gRPC dependencies: { name, listen, target: http://host:port (h2c) or https://, target_tls }' }),
    pg_deps: Type.Array(PgDepSchema, { default: [] }),
    sample: Rate(1),
    ...Filters,
    exclude_health: Type.Boolean({ default: true, expected: 'true to skip /healthz, /readyz, /livez and /health probes' }),
    max_body_bytes: Size('1mb'),
    max_header_bytes: Size('16kb'),
    max_connections: Type.Integer({ minimum: 1, default: 10_000, expected: 'a whole number of client connections held at once per listener' }),
    max_message_bytes: Size('16mb'),
    queue_items: Type.Integer({ minimum: 1, default: 10_000 }),
    queue_bytes: Size('32mb'),
    quota_bytes: Type.Optional(Size()),
    segment_bytes: Size('64mb'),
    gzip: Type.Boolean({ default: false }),
    recorder_id: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9._:-]{1,64}$',
        expected: 'up to 64 letters, digits and . _ : - naming this recorder among those writing one store (default: host-pid-random)',
      }),
    ),
    timeouts: Strict(
      {
        headers: Duration('30s'),
        request: Duration('5m'),
        keep_alive: Duration('5s'),
        upstream: Duration('30s'),
        login: Duration('60s'),
      },
      { default: {} },
    ),
  },
  { default: {} },
);

export const StoreSchema = Strict(
  {
    spool: Strict(
      {
        dir: Type.Optional(Type.String({ minLength: 1, expected: 'a directory for batches a Redis store could not take (default: a private temporary directory)' })),
        max_bytes: Size('128mb'),
      },
      { default: {} },
    ),
  },
  { default: {} },
);

export const MockSchema = Strict({
  service: Type.String({ minLength: 1 }),
  protocol: Type.Union([Type.Literal('http'), Type.Literal('pg'), Type.Literal('grpc')], { expected: '"http", "pg" or "grpc"' }),
  listen: Addr(),
  traffic: Paths(),
  target: Type.Optional(Type.String({ expected: 'the real dependency: a URL for http, host:port for pg' })),
  stubs: Type.Optional(Paths()),
  latency: Type.Union([Type.Literal('none'), Type.Literal('recorded')], { default: 'none', expected: '"none" or "recorded"' }),
  match_headers: Type.Array(Type.String(), { default: [], expected: 'header names whose values must match, e.g. ["x-tenant"]' }),
  max_body_bytes: Size('16mb'),
  unmatched_keep: Type.Integer({ minimum: 1, default: 1000, expected: 'how many unmatched calls GET /api/unmatched keeps (HTTP: distinct requests, each with its count)' }),
  record_out: Type.Optional(Type.String({ expected: 'traffic directory for passthrough exchanges (default: the first traffic directory)' })),
  auth: Type.Union([Type.Literal('trust'), Type.Literal('md5'), Type.Literal('scram-sha-256')], {
    default: 'trust',
    expected: '"trust", "md5" or "scram-sha-256"',
  }),
  user: Type.Optional(Type.String()),
  password: Type.Optional(Type.String()),
  tls: ListenerTls(),
  target_tls: TargetTls(),
  max_message_bytes: Size('16mb'),
  login_timeout: Duration('60s'),
  max_connections: Type.Integer({ minimum: 1, default: 1000, expected: 'a whole number of client connections held at once' }),
  target_timeout: Duration('30s'),
});

export const CaptureSchema = Strict({
  name: Type.String({ minLength: 1, expected: 'a variable name used as {{name}} in later requests' }),
  from: Type.String({ expected: 'a JSON path into the response body, e.g. $.id, or header:NAME' }),
  endpoint: Type.Optional(Type.String({ expected: 'an endpoint like "POST /orders"' })),
});

export const ReplaySchema = Strict(
  {
    protocol: Type.Union([Type.Literal('http'), Type.Literal('grpc')], {
      default: 'http',
      expected: '"http" or "grpc" (replay the recorded inbound gRPC calls over HTTP/2 to the target)',
    }),
    target: Type.Optional(Url()),
    target_tls: TargetTls(),
    target_http2: Type.Boolean({ default: false, expected: 'true to send every request to the target (and the secondary) over HTTP/2 (h2c prior knowledge for http://, ALPN h2 for https://), HTTP/1.1 ones too' }),
    traffic: Type.Optional(Paths()),
    concurrency: Type.Integer({ minimum: 1, default: 10 }),
    time_scale: Type.Number({ exclusiveMinimum: 0, default: 1 }),
    max_delay: Duration('5s'),
    rate: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    headers: Type.Optional(StringMap()),
    captures: Type.Array(CaptureSchema, { default: [] }),
    ...Filters,
    limit: Type.Optional(Type.Integer({ minimum: 1 })),
    duration: Type.Optional(Duration()),
    warmup: Type.Integer({ minimum: 0, default: 0 }),
    insecure: Type.Boolean({ default: false }),
    timeout: Duration('30s'),
    report: Type.Optional(Type.String()),
    run_id: Type.Optional(Type.String()),
    baseline: Type.Optional(Type.String({ expected: 'a report directory of an earlier baseline run' })),
    mock_admin: Type.Optional(Type.Array(Url())),
    secondary: Type.Optional(Url()),
    max_in_flight: Type.Integer({
      minimum: 1,
      default: 256,
      expected: 'a whole number of requests in flight at most with --rate (open model)',
    }),
    window: Type.Optional(
      Type.Integer({ minimum: 1, expected: 'a whole number of requests read ahead of the senders (default: from 256, doubled up to 10000 whenever a session is played in pieces)' }),
    ),
    judge_workers: Type.Integer({ minimum: 0, maximum: 16, default: 1, expected: 'worker threads comparing large bodies off the sending loop, 0 to 16 (0: every pair inline)' }),
    judge_inline_bytes: Size('64kb'),
  },
  { default: {} },
);

export const SutSchema = Strict({
  command: Type.String({ minLength: 1 }),
  cwd: Type.Optional(Type.String()),
  env: Type.Optional(StringMap()),
  health: Url(),
  ready_seconds: Type.Number({ minimum: 0, default: 5 }),
  timeout: Duration('60s'),
});

export const BaselineSchema = Strict({
  command: Type.Optional(Type.String({ minLength: 1 })),
  cwd: Type.Optional(Type.String()),
  env: Type.Optional(StringMap()),
  health: Type.Optional(Url()),
  target: Type.Optional(Url()),
  ready_seconds: Type.Optional(Type.Number({ minimum: 0 })),
  report: Type.Optional(Type.String({ expected: 'a report directory of an earlier baseline run' })),
});

export const SessionsSchema = Strict(
  {
    key: Type.String({
      pattern: '^(exchange|connection|(header|cookie|jwt):.+)$',
      default: 'exchange',
      expected: '"exchange", "connection", "header:NAME", "cookie:NAME" or "jwt:CLAIM"',
    }),
  },
  { default: {} },
);

export const CompareSchema = Strict(
  {
    ignore: Type.Array(Type.String(), { default: [], expected: 'a list of paths like "$.createdAt", "$..id", "header:date"' }),
    tolerances: Type.Record(Type.String(), Type.Union([Type.Number({ minimum: 0 }), Type.String({ pattern: '^\\d+(\\.\\d+)?%$' })]), {
      default: {},
      expected: 'a map of JSON paths to an absolute tolerance (0.01) or a relative one ("1%")',
    }),
    unordered: Type.Array(Type.String(), { default: [], expected: 'JSON paths of arrays compared without order' }),
    presence: Type.Array(Type.String(), { default: [], expected: 'JSON paths checked for presence only' }),
    headers: Type.Array(Type.String(), {
      default: ['content-type'],
      expected: 'response header names to compare, e.g. ["content-type"]; ["*"] compares every header except volatile ones (date, server, etag, set-cookie, request ids, ...)',
    }),
    value_classes: Type.Boolean({ default: true }),
    learn_noise: Type.Integer({ minimum: 0, default: 0 }),
    noise_confidence: Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.95 }),
    max_body_bytes: Size('1mb'),
  },
  { default: {} },
);

export const GatesSchema = Type.Record(Type.String(), Type.String(), {
  default: {},
  expected: 'a map of gate names to expressions like ">= 0.99"',
});

export const CutoffsSchema = Strict(
  {
    min_requests: Type.Integer({ minimum: 0, default: 50 }),
    // No defaults: an absent cutoff never fires (a default of 1 would be an alert that cannot fire).
    max_5xx_rate: Type.Optional(Rate()),
    max_error_rate: Type.Optional(Rate()),
    max_mock_miss_rate: Type.Optional(Rate()),
  },
  { default: {} },
);

export const ShadowSchema = Strict(
  {
    protocol: Type.Union([Type.Literal('http'), Type.Literal('grpc')], {
      default: 'http',
      expected: '"http" or "grpc" (the listener speaks HTTP/2 and tees gRPC calls, judged as gRPC)',
    }),
    listen: Type.Optional(Addr()),
    tls: ListenerTls(),
    primary: Type.Optional(Url()),
    primary_tls: TargetTls(),
    primary_http2: Type.Boolean({ default: false, expected: 'true to send every request to the primary over HTTP/2 (h2c prior knowledge for http://, ALPN h2 for https://), HTTP/1.1 ones too' }),
    candidate: Type.Optional(Url()),
    candidate_tls: TargetTls(),
    candidate_http2: Type.Boolean({ default: false, expected: 'true to send every request to the candidate (and the secondary) over HTTP/2 (h2c prior knowledge for http://, ALPN h2 for https://), HTTP/1.1 ones too' }),
    secondary: Type.Optional(Url()),
    sample: Rate(1),
    ...Filters,
    methods: Type.Array(Type.String(), { default: ['GET', 'HEAD', 'OPTIONS'] }),
    queue_items: Type.Integer({ minimum: 1, default: 1000 }),
    queue_wait: Duration('100ms'),
    max_in_flight: Type.Integer({ minimum: 1, default: 16 }),
    max_body_bytes: Size('1mb'),
    timeout: Duration('10s'),
    window: Duration('5m'),
    report: Type.Optional(Type.String()),
    inject_traceparent: Type.Boolean({ default: false }),
    candidate_http_deps: Type.Array(HttpDepSchema, { default: [] }),
    candidate_pg_deps: Type.Array(PgDepSchema, { default: [] }),
    http_deps: Type.Array(HttpDepSchema, { default: [], expected: "the primary's HTTP dependencies, recorded and served to the candidate as live mocks" }),
    pg_deps: Type.Array(PgDepSchema, { default: [], expected: "the primary's Postgres dependencies, relayed and served to the candidate as live mocks" }),
    mock_window: Duration('30s'),
    judge_workers: Type.Integer({ minimum: 1, maximum: 16, default: 1, expected: 'worker threads comparing large bodies, 1 to 16' }),
    judge_queue_items: Type.Integer({ minimum: 1, default: 64, expected: 'large comparisons waiting for a worker before more are dropped' }),
    judge_inline_bytes: Size('64kb'),
    diff_samples: Type.Integer({ minimum: 1, maximum: 10_000, default: 100, expected: 'diff samples kept for GET /api/runs/:id (newest kept)' }),
    drain_timeout: Duration('10s'),
  },
  { default: {} },
);

export const RedactSchema = Strict(
  {
    enabled: Type.Boolean({ default: true }),
    headers: Type.Array(Type.String(), { default: [], expected: 'extra header names to redact' }),
    query_params: Type.Array(Type.String(), { default: [], expected: 'query parameter names to redact' }),
    json_paths: Type.Array(Type.String(), { default: [], expected: 'JSON paths like "$.card.number"' }),
    key_file: Type.Optional(Type.String({ expected: 'a file holding the redaction key, outside the traffic directory' })),
  },
  { default: {} },
);

export const LogSchema = Strict(
  {
    level: Type.Union(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
      { default: 'info', expected: 'one of fatal, error, warn, info, debug, trace, silent' },
    ),
    format: Type.Union(
      ['auto', 'pretty', 'json'].map((f) => Type.Literal(f)),
      { default: 'auto', expected: 'one of auto, pretty, json' },
    ),
  },
  { default: {} },
);

/** Message schemas of gRPC methods: with them messages are judged, matched and stubbed as JSON. */
export const GrpcSchema = Strict(
  {
    descriptors: Type.Array(Type.String({ minLength: 1 }), { default: [], expected: 'protoset files (protoc --descriptor_set_out), e.g. ["./api.protoset"]' }),
    protos: Type.Array(Type.String({ minLength: 1 }), { default: [], expected: 'directories of .proto files, each also an import root, e.g. ["./proto"]' }),
    reflection: Type.Boolean({ default: false, expected: 'true to ask the target (replay --target, record upstream) for descriptors through server reflection' }),
  },
  { default: {} },
);

export const ConfigSchema = Strict({
  admin: AdminSchema,
  log: LogSchema,
  record: RecordSchema,
  mocks: Type.Array(MockSchema, { default: [] }),
  replay: ReplaySchema,
  sut: Type.Optional(SutSchema),
  baseline: Type.Optional(BaselineSchema),
  sessions: SessionsSchema,
  compare: CompareSchema,
  quality_gates: GatesSchema,
  cutoffs: CutoffsSchema,
  shadow: ShadowSchema,
  redact: RedactSchema,
  store: StoreSchema,
  grpc: GrpcSchema,
});

export type DoppelConfig = Static<typeof ConfigSchema>;
export type RecordConfig = Static<typeof RecordSchema>;
export type MockConfig = Static<typeof MockSchema>;
export type ReplayConfig = Static<typeof ReplaySchema>;
export type CompareConfig = Static<typeof CompareSchema>;
export type CutoffsConfig = Static<typeof CutoffsSchema>;
export type ShadowConfig = Static<typeof ShadowSchema>;
export type RedactConfig = Static<typeof RedactSchema>;
export type SutConfig = Static<typeof SutSchema>;
export type SessionsConfig = Static<typeof SessionsSchema>;
export type HttpDepConfig = Static<typeof HttpDepSchema>;
export type PgDepConfig = Static<typeof PgDepSchema>;
export type GrpcConfig = Static<typeof GrpcSchema>;

/** A gates file (`--gates FILE`) holds quality_gates and/or cutoffs. */
export const GatesFileSchema = Strict({
  quality_gates: Type.Optional(GatesSchema),
  cutoffs: Type.Optional(CutoffsSchema),
});
export type GatesFile = Static<typeof GatesFileSchema>;
