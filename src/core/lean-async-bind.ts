/**
 * Runs one synchronous Node call with a cheaper `AsyncResource.prototype.bind`.
 *
 * `ClientHttp2Session.request()` binds its connect callback to a fresh
 * AsyncResource on every stream. On Node 20 that bind attaches a deprecated
 * `asyncResource` accessor pair (DEP0172) built by `util.deprecate`, which
 * sets the prototype of two new functions (nodejs/node#58218): about 11 µs
 * per stream, 8% of the HTTP/2 record proxy's CPU by profile, more than any
 * code of ours.
 *
 * The bound function Node builds there is only called, never inspected, so
 * for the length of that one synchronous call the bind below runs the
 * function in the resource's async scope exactly as Node's does (the same
 * resource, the same context for AsyncLocalStorage and async_hooks), without
 * the deprecated property. Node's own bind is back before the call returns
 * or throws; nothing else runs in between. Where Node's bind no longer
 * attaches the property (Node's main line removed it), the call runs untouched.
 */
import { AsyncResource } from 'node:async_hooks';
import type { ClientHttp2Session, ClientHttp2Stream, ClientSessionRequestOptions, OutgoingHttpHeaders } from 'node:http2';

type Bind = typeof AsyncResource.prototype.bind;
type AnyFn = (this: unknown, ...args: unknown[]) => unknown;

// Read as a property value: it is put back as it was, never called detached.
const nodeBind = (Object.getOwnPropertyDescriptor(AsyncResource.prototype, 'bind') as PropertyDescriptor).value as Bind;

/** exported for its test: equivalent to Node's bind but for DEP0172's property */
export function leanAsyncBind(this: AsyncResource, fn: AnyFn, thisArg?: unknown): AnyFn {
  return boundIn(this, fn, thisArg);
}

/** What Node's bind returns, less the deprecated property: `fn` run in `resource`'s scope with the caller's arguments. */
function boundIn(resource: AsyncResource, fn: AnyFn, thisArg: unknown): AnyFn {
  if (thisArg !== undefined) return (...args: unknown[]) => resource.runInAsyncScope(fn, thisArg, ...args);
  return function (this: unknown, ...args: unknown[]) {
    return resource.runInAsyncScope(fn, this, ...args);
  };
}

/** Whether this Node's bind still builds the costly deprecated property. */
export const hasCostlyAsyncBind = Object.getOwnPropertyDescriptor(new AsyncResource('doppel.probe').bind(() => undefined), 'asyncResource') !== undefined;

/** `session.request(headers[, options])` with the lean bind in place for the length of the call. */
export function requestWithLeanAsyncBind(session: ClientHttp2Session, headers: OutgoingHttpHeaders, options?: ClientSessionRequestOptions): ClientHttp2Stream {
  if (!hasCostlyAsyncBind) return options === undefined ? session.request(headers) : session.request(headers, options);
  AsyncResource.prototype.bind = leanAsyncBind as unknown as Bind;
  try {
    return options === undefined ? session.request(headers) : session.request(headers, options);
  } finally {
    AsyncResource.prototype.bind = nodeBind;
  }
}
