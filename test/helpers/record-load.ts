import { Pool } from 'undici';

/**
 * Steady load through a recording proxy: `connections` clients each send GET
 * <prefix>/<client>-<i> one after another, numbered in send order. A request counts as
 * acknowledged once its whole 200 response arrived: by then the proxy has
 * offered its exchange to the recorder (it does so in the tick that ends the
 * response), so every acknowledged request is one the store owes.
 */
export interface RecordLoad {
  /** urls of the acknowledged requests, in order of acknowledgement */
  readonly acked: readonly string[];
  /** requests sent, answered or not */
  readonly sent: number;
  /** stops sending; resolves when every client has stopped */
  stop(): Promise<void>;
}

export function startRecordLoad(base: string, connections = 8, prefix = '/n'): RecordLoad {
  const pool = new Pool(base, { connections, pipelining: 1 });
  const acked: string[] = [];
  let sent = 0;
  let isStopped = false;
  const client = async (c: number): Promise<void> => {
    for (let i = 0; !isStopped; i++) {
      const path = `${prefix}/${c}-${i}`;
      sent++;
      try {
        const r = await pool.request({ path, method: 'GET' });
        await r.body.text();
        if (r.statusCode === 200) acked.push(path);
      } catch {
        // The recorder went away (signal, kill): the load ends here for this client.
        return;
      }
    }
  };
  const clients = Array.from({ length: connections }, (_, c) => client(c));
  return {
    acked,
    get sent() {
      return sent;
    },
    async stop() {
      isStopped = true;
      await Promise.all(clients);
      await pool.destroy();
    },
  };
}
