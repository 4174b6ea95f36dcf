/**
 * The record proxy's HTTP/1.1 connections to its upstream: undici Clients
 * with one request each in flight, the free ones on a stack. undici's Pool
 * finds a free client by walking every client on every request (undici 7
 * lib/dispatcher/pool.js, kGetDispatcher); with 50 client connections busy
 * that walk was 2.4% of the proxy's CPU. Here a request takes the client
 * freed last (its socket is the warmest) or opens one, and a client goes
 * back on the stack when undici says it can take a request again ('drain').
 */
import { Client, errors, type Dispatcher } from 'undici';

export class UpstreamClients {
  readonly #origin: string;
  readonly #options: Client.Options;
  readonly #free: Client[] = [];
  readonly #all = new Set<Client>();
  #isClosed = false;

  constructor(origin: string, options: Client.Options) {
    this.#origin = origin;
    this.#options = options;
  }

  /** Sends one request; its outcome reaches `handler` as with any undici dispatcher, failures included. */
  dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): void {
    if (this.#isClosed) throw new errors.ClientClosedError();
    const client = this.#free.pop() ?? this.#open();
    // true: it can take another request at once (it had none in flight); undici emits no 'drain' then.
    if (client.dispatch(opts, handler)) this.#free.push(client);
  }

  #open(): Client {
    const client = new Client(this.#origin, this.#options);
    this.#all.add(client);
    client.on('drain', () => {
      if (!this.#isClosed) this.#free.push(client);
    });
    return client;
  }

  /** Lets requests in flight finish, then closes every connection. */
  async close(): Promise<void> {
    this.#isClosed = true;
    this.#free.length = 0;
    await Promise.all([...this.#all].map((c) => c.close().catch(() => undefined)));
    this.#all.clear();
  }
}
