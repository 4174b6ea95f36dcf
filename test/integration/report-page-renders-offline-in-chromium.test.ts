import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { writeReport } from '../../src/report/write-report.js';
import { sampleRun } from '../helpers/report-fixtures.js';
import { CDF_QUANTILES } from '../../src/gates/gate-accumulator.js';
import { findExecutable, missingToolMessage, skipOrFail } from '../helpers/services.js';

const chromiumPath = findExecutable('chromium', ['/usr/bin/chromium']);
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
    if (!browser) skipOrFail(ctx, missingToolMessage('chromium', 'chromium'));
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

  it('draws baseline and candidate latency distributions for the run and each endpoint, with labeled axes, offline', async (ctx) => {
    if (!browser) skipOrFail(ctx, missingToolMessage('chromium', 'chromium'));
    const sub = join(dir, 'latency');
    const run = sampleRun();
    await writeReport(sub, run);
    const url = pathToFileURL(join(sub, 'report.html')).href;
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
    await page.goto(url, { waitUntil: 'load' });

    const charts = [
      { figure: page.locator('#run-latency figure'), label: 'all requests' },
      ...run.endpoints.map((ep) => ({ figure: page.locator('#endpoint-latency figure').filter({ has: page.locator('figcaption', { hasText: ep.endpoint }) }), label: ep.endpoint })),
    ];
    expect(await page.locator('figure.latency-chart svg').count()).toBe(1 + run.endpoints.length);
    for (const { figure, label } of charts) {
      expect(await figure.count()).toBe(1);
      const svg = figure.locator('svg');
      expect(await svg.isVisible()).toBe(true);
      const box = await svg.boundingBox();
      expect(box?.width ?? 0).toBeGreaterThan(200);
      expect(await svg.locator('title').first().textContent()).toBe(`Latency distribution, ${label}: baseline vs candidate`);
      // both series, drawn from the report's quantile points
      const points = async (side: string) => {
        const line = svg.locator(`polyline.series[data-side="${side}"]`);
        expect(await line.count()).toBe(1);
        expect(await line.isVisible()).toBe(true);
        return ((await line.getAttribute('points')) ?? '').split(' ').map((pt) => pt.split(',').map(Number) as [number, number]);
      };
      const baseline = await points('baseline');
      const candidate = await points('candidate');
      expect(baseline.length).toBe(CDF_QUANTILES.length);
      expect(candidate.length).toBe(CDF_QUANTILES.length);
      // the candidate is slower in the fixture: its median sits to the right of the baseline's
      const median = CDF_QUANTILES.indexOf(0.5);
      expect((candidate[median] as [number, number])[0]).toBeGreaterThan((baseline[median] as [number, number])[0]);
      // labeled axes with ticks, and a legend naming both sides
      expect(await svg.locator('text.x-label').textContent()).toBe('latency (ms, log scale)');
      expect(await svg.locator('text.y-label').textContent()).toBe('requests at or below');
      expect(await svg.locator('text.x-tick').count()).toBeGreaterThanOrEqual(2);
      expect(await svg.locator('text.x-tick').allTextContents()).toContain('5 ms');
      expect(await svg.locator('text.y-tick').allTextContents()).toEqual(['0%', '25%', '50%', '75%', '100%']);
      expect(await svg.locator('text.legend').allTextContents()).toEqual([expect.stringMatching(/^baseline \(n=\d+\)$/), expect.stringMatching(/^candidate \(n=\d+\)$/)]);
    }
    // endpoint names stay text in captions, titles and attributes
    expect(await page.locator('#endpoint-latency script').count()).toBe(0);
    expect(await page.locator('#endpoint-latency figure[data-endpoint="GET /search?q=<script>"]').count()).toBe(1);

    expect(requests).toEqual([]);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('shows why an aborted run stopped', async (ctx) => {
    if (!browser) skipOrFail(ctx, missingToolMessage('chromium', 'chromium'));
    const sub = join(dir, 'aborted');
    await writeReport(sub, sampleRun({ verdict: 'aborted', abortReason: 'cutoff max_5xx_rate: 5xx on 40.0% of 50 requests (limit 20.0%)' }));
    const page = await browser.newPage();
    await page.goto(pathToFileURL(join(sub, 'report.html')).href);
    expect(await page.locator('#abort-reason').innerText()).toContain('cutoff max_5xx_rate');
    expect(await page.locator('#verdict').innerText()).toMatch(/^aborted$/i);
    await page.close();
  });
});
