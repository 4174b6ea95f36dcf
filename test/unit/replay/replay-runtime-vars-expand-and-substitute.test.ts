import { describe, expect, it } from 'vitest';
import {
  SessionVars,
  applyCaptures,
  compileCaptures,
  expandTemplates,
  substituteJson,
  substituteText,
  substituteUrl,
} from '../../../src/replay/runtime-vars.js';
import { isDoppelError } from '../../../src/core/errors.js';

const env = { now: () => Date.parse('2026-01-02T03:04:05.000Z'), vars: { TOKEN: 't-123' } };

describe('runtime variables', () => {
  it('expands now, offsets, uuid and env, and leaves unknown templates alone', () => {
    const out = expandTemplates('{{now}}|{{now+5m}}|{{now-1d}}|{{env.TOKEN}}|{{nope}}', env, undefined);
    expect(out).toBe('2026-01-02T03:04:05.000Z|2026-01-02T03:09:05.000Z|2026-01-01T03:04:05.000Z|t-123|{{nope}}');
    const a = expandTemplates('{{uuid}}', env, undefined);
    const b = expandTemplates('{{uuid}}', env, undefined);
    expect(a).toMatch(/^[0-9a-f-]{36}$/);
    expect(a).not.toBe(b);
  });

  it('captures the candidate value and substitutes the recorded one in urls, text and JSON', () => {
    const caps = compileCaptures([{ name: 'orderId', from: '$.id', endpoint: 'POST /orders' }]);
    const vars = new SessionVars();
    const n = applyCaptures(caps, 'POST', '/orders', { headers: [], json: { id: 42 } }, { headers: [], json: { id: 1042 } }, vars);
    expect(n).toBe(1);
    expect(expandTemplates('/x/{{orderId}}', env, vars)).toBe('/x/1042');
    expect(substituteUrl('/orders/42/items?order=42&q=142', vars)).toBe('/orders/1042/items?order=1042&q=142');
    expect(substituteText('id 42, not 142 or 42a', vars, true)).toBe('id 1042, not 142 or 42a');
    // a short value in free text may be anything (a count, a page): left alone unless the field is an id
    expect(substituteText('page 42', vars)).toBe('page 42');
    const r = substituteJson({ orderId: 42, id: '42', qty: 42, ref: '42', other: 421 }, vars);
    expect(r.changed).toBe(true);
    expect(r.value).toEqual({ orderId: 1042, id: '1042', qty: 42, ref: '42', other: 421 });
    const long = new SessionVars();
    long.setSubstitution('5f0c8a1e-aaaa', '9d9d9d9d-bbbb', 'id');
    expect(substituteJson({ note: 'see 5f0c8a1e-aaaa', ids: ['5f0c8a1e-aaaa'] }, long).value).toEqual({ note: 'see 9d9d9d9d-bbbb', ids: ['9d9d9d9d-bbbb'] });
  });

  it('does not capture on another endpoint', () => {
    const caps = compileCaptures([{ name: 'orderId', from: '$.id', endpoint: 'POST /orders' }]);
    const vars = new SessionVars();
    expect(applyCaptures(caps, 'GET', '/orders/1', undefined, { headers: [], json: { id: 1 } }, vars)).toBe(0);
    expect(vars.isEmpty).toBe(true);
  });

  it('rejects a bad capture path naming the key', () => {
    try {
      compileCaptures([{ name: 'x', from: 'id' }]);
      expect.unreachable();
    } catch (err) {
      expect(isDoppelError(err) && err.exitCode).toBe(2);
      expect((err as Error).message).toContain('replay.captures[0].from');
    }
  });
});
