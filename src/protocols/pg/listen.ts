import type { AddressInfo, Server } from 'node:net';
import type { HostPort } from '../../core/address.js';

/** Listens and resolves with the bound address (the real port when 0 was asked); a bind error rejects. */
export function listenOn(server: Server, at: HostPort): Promise<AddressInfo> {
  return new Promise<AddressInfo>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}
