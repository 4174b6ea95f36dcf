/**
 * Wire constants of the PostgreSQL frontend/backend protocol 3.0
 * (PostgreSQL docs, "Frontend/Backend Protocol" and "Message Formats").
 */

/** Special request codes sent in place of a protocol version in a startup-style packet. */
export const SSL_REQUEST_CODE = 80877103; // 1234 << 16 | 5679
export const GSSENC_REQUEST_CODE = 80877104; // 1234 << 16 | 5680
export const CANCEL_REQUEST_CODE = 80877102; // 1234 << 16 | 5678

export const PROTOCOL_MAJOR = 3;
export const PROTOCOL_MINOR = 0;

/**
 * postmaster.c MAX_STARTUP_PACKET_LENGTH: a startup packet longer than this,
 * or shorter than 8 bytes, is rejected with "invalid length of startup packet".
 */
export const MAX_STARTUP_PACKET_BYTES = 10_000;

/** Default cap on one typed frontend message (Postgres itself allows about 1 GiB). */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** Frontend (client -> server) message type bytes. */
export const FrontendCode = {
  Bind: 0x42, // B
  Close: 0x43, // C
  CopyData: 0x64, // d
  CopyDone: 0x63, // c
  CopyFail: 0x66, // f
  Describe: 0x44, // D
  Execute: 0x45, // E
  Flush: 0x48, // H
  FunctionCall: 0x46, // F
  Parse: 0x50, // P
  Password: 0x70, // p (PasswordMessage, SASLInitialResponse, SASLResponse, GSSResponse)
  Query: 0x51, // Q
  Sync: 0x53, // S
  Terminate: 0x58, // X
} as const;

/** Backend (server -> client) message type bytes. */
export const BackendCode = {
  Authentication: 0x52, // R
  BackendKeyData: 0x4b, // K
  BindComplete: 0x32, // 2
  CloseComplete: 0x33, // 3
  CommandComplete: 0x43, // C
  CopyData: 0x64, // d
  CopyDone: 0x63, // c
  CopyInResponse: 0x47, // G
  CopyOutResponse: 0x48, // H
  CopyBothResponse: 0x57, // W
  DataRow: 0x44, // D
  EmptyQueryResponse: 0x49, // I
  ErrorResponse: 0x45, // E
  FunctionCallResponse: 0x56, // V
  NegotiateProtocolVersion: 0x76, // v
  NoData: 0x6e, // n
  NoticeResponse: 0x4e, // N
  NotificationResponse: 0x41, // A
  ParameterDescription: 0x74, // t
  ParameterStatus: 0x53, // S
  ParseComplete: 0x31, // 1
  PortalSuspended: 0x73, // s
  ReadyForQuery: 0x5a, // Z
  RowDescription: 0x54, // T
} as const;

/** Authentication request codes of the 'R' message. */
export const AuthCode = {
  Ok: 0,
  CleartextPassword: 3,
  MD5Password: 5,
  SASL: 10,
  SASLContinue: 11,
  SASLFinal: 12,
} as const;

/**
 * ErrorResponse / NoticeResponse field type bytes ("Error and Notice Message
 * Fields") and the names the exchange records them under.
 */
export const ERROR_FIELD_NAMES: ReadonlyArray<readonly [string, string]> = [
  ['S', 'severity'],
  ['V', 'severityNonLocalized'],
  ['C', 'code'],
  ['M', 'message'],
  ['D', 'detail'],
  ['H', 'hint'],
  ['P', 'position'],
  ['p', 'internalPosition'],
  ['q', 'internalQuery'],
  ['W', 'where'],
  ['s', 'schema'],
  ['t', 'table'],
  ['c', 'column'],
  ['d', 'dataType'],
  ['n', 'constraint'],
  ['F', 'file'],
  ['L', 'line'],
  ['R', 'routine'],
];

/** SQLSTATEs doppel's Postgres endpoints answer with (Appendix A, "PostgreSQL Error Codes"). */
export const SqlState = {
  protocolViolation: '08P01',
  featureNotSupported: '0A000',
  invalidPassword: '28P01',
  invalidAuthorization: '28000',
  inFailedTransaction: '25P02',
  undefinedPreparedStatement: '26000',
  undefinedCursor: '34000',
  duplicatePreparedStatement: '42P05',
  /** a statement the mock has no recording for: "plpgsql / internal"-class code chosen so clients show it as a server error */
  mockUnmatched: 'XX000',
  invalidParameterValue: '22023',
  /** the mock's passthrough cannot reach or lost its real server */
  connectionFailure: '08006',
  tooManyConnections: '53300',
  /** also "canceling authentication due to timeout" (postmaster.c, authentication_timeout) */
  queryCanceled: '57014',
} as const;
