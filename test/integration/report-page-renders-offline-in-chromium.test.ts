import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { writeReport } from '../../src/report/write-report.js';
import { sampleRun } from '../unit/report-fixtures.js';
import { findTool, isCI, missingToolMessage } from './debian-tool.js';

const chromiumPath = findTool('chromium', ['/usr/bin/chromium']);
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

let dir: string;
let browser: Browser | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'doppel-html-'));
  if (chromiumPath) browser = await chromium.launch({ executablePath: chromiumPath, args: ARGS });
});
afterAll(async () => {
  await browser?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('report.html in a browser', () => {
  it('renders the verdict and failing gate, makes no network requests and logs no errors', async (ctx) => {
    if (!browser) {
      if (isCI) throw new Error(missingToolMessage('chromium', 'chromium'));
      ctx.skip(missingToolMessage('chromium', 'chromium'));
      return;
    }
    await writeReport(dir, sampleRun());
    const url = pathToFileURL(join(dir, 'report.html')).href;
    const page = await browser.newPage();
    const requests: string[] = [];
    const problems: string[] = [];
    page.on('request', (r) => {
      if (r.url() !== url) requests.push(r.url());
    });
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
    page.on('dialog', (d) => {
      problems.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
    await page.goto(url, { waitUntil: 'load' });

    expect(await page.title()).toBe('doppel replay run-<1>&"x": fail');
    expect(await page.locator('#verdict').innerText()).toMatch(/^fail$/i);
    const failing = page.locator('#gates tr.failing');
    expect(await failing.count()).toBe(1);
    expect(await failing.innerText()).toMatch(/body_match_rate\s+>= 0\.95\s+80\.00%\s+FAIL/);
    expect(await failing.isVisible()).toBe(true);
    // run data shows as text, never as markup
    expect(await page.locator('#samples img').count()).toBe(0);
    expect(await page.locator('#samples').innerText()).toContain('</pre><img src=x onerror=alert(1)>');
    // differing paths are highlighted on both sides
    const highlighted = await page.locator('#samples .diff').allInnerTexts();
    expect(highlighted.some((t) => t.includes('"total": 10'))).toBe(true);
    expect(highlighted.some((t) => t.includes('"note":'))).toBe(true);
    expect(await page.locator('#endpoints tr.failing').innerText()).toContain('GET /orders/:id');
    expect(await page.locator('#noise').innerText()).toContain('$.servedBy');
    expect(await page.locator('#latency').innerText()).toContain('11.0 ms');

    expect(requests).toEqual([]);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('shows why an aborted run stopped', async (ctx) => {
    if (!browser) {
      if (isCI) throw new Error(missingToolMessage('chromium', 'chromium'));
      ctx.skip(missingToolMessage('chromium', 'chromium'));
      return;
    }
    const sub = join(dir, 'aborted');
    await writeReport(sub, sampleRun({ verdict: 'aborted', abortReason: 'cutoff max_5xx_rate: 5xx on 40.0% of 50 requests (limit 20.0%)' }));
    const page = await browser.newPage();
    await page.goto(pathToFileURL(join(sub, 'report.html')).href);
    expect(await page.locator('#abort-reason').innerText()).toContain('cutoff max_5xx_rate');
    expect(await page.locator('#verdict').innerText()).toMatch(/^aborted$/i);
    await page.close();
  });
});
