/** Copies up to `max` bytes of a body for the record; the client still gets every byte. */
export class BodyTap {
  chunks: Buffer[] = [];
  size = 0;
  truncated = false;
  readonly max: number;
  constructor(max: number) {
    this.max = max;
  }
  add(chunk: Buffer | string, copy: boolean): void {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (this.truncated) return;
    const room = this.max - this.size;
    if (buf.length > room) {
      this.truncated = true;
      if (room > 0) this.chunks.push(Buffer.from(buf.subarray(0, room)));
      this.size = this.max;
      return;
    }
    // undici hands out views of its socket buffers: copy what we keep
    this.chunks.push(copy ? Buffer.from(buf) : buf);
    this.size += buf.length;
  }
}
