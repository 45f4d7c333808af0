// The browser test of OmniSphere's pages (issue 9), run by .ci/run through
// run.sh: it starts the server binary on the embedded default (a fresh
// DATA_DIR: the demo store is seeded), drives Debian's Chromium with
// playwright-core, and checks the merchant's story end to end:
//
//   1. sign in to /admin; the live order feed connects;
//   2. in a second page, buy the first product of /store with the manual
//      provider (product → cart → checkout → confirmation);
//   3. the order appears in the admin feed within 2 s, without a reload;
//   4. the merchant marks it paid from the dashboard and the KPI cards change;
//   5. /playground loads GraphiQL from the binary with the storefront key.
//
// No page may log an error, break the Content-Security-Policy or fetch
// from another origin. Screenshots of every page go to E2E_OUT
// (web/e2e/output by default).
//
// Environment: OMNISPHERE_BIN (the built server, required), CHROMIUM
// (/usr/bin/chromium), E2E_OUT, E2E_HEADED=1 to watch.

import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const bin = process.env.OMNISPHERE_BIN;
if (!bin) {
  console.error('OMNISPHERE_BIN must name the built server');
  process.exit(2);
}
const out = resolve(process.env.E2E_OUT || join(import.meta.dirname, 'output'));
mkdirSync(out, { recursive: true });

const steps = [];
function step(name) {
  const t0 = Date.now();
  console.log(`-- ${name}`);
  steps.push(name);
  return () => console.log(`   ok (${Date.now() - t0} ms)`);
}

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

// startServer runs the binary on a fresh embedded database and resolves
// with the demo store's credentials from its JSON log.
async function startServer() {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'omnisphere-e2e-'));
  const env = { ...process.env, PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'info' };
  for (const k of ['DATABASE_URL', 'REDIS_URL', 'SMTP_URL', 'STRIPE_SECRET_KEY', 'WEB_STOREFRONT_KEY', 'WEB_STORE']) delete env[k];
  const proc = spawn(bin, [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (b) => {
    stderr += b;
  });
  const demo = await new Promise((res, rej) => {
    let buf = '';
    const timer = setTimeout(() => rej(new Error(`the server did not seed the demo store in 60 s:\n${stderr}`)), 60_000);
    proc.on('exit', (code) => rej(new Error(`the server exited (${code}):\n${stderr}`)));
    proc.stdout.on('data', (b) => {
      buf += b;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        let rec;
        try {
          rec = JSON.parse(line);
        } catch {
          continue;
        }
        if (rec.msg === 'demo store seeded') {
          clearTimeout(timer);
          res(rec);
        }
        if (rec.level === 'ERROR') console.log(`   server: ${line}`);
      }
    });
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${base}/ready`)).ok) break;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    base,
    demo,
    stop: async () => {
      proc.kill('SIGTERM');
      await new Promise((r) => (proc.exitCode !== null ? r() : proc.on('exit', r)));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

// watch fails the test on page errors, console errors (a CSP violation is
// one) and requests to another origin.
function watch(page, name, base, problems) {
  page.on('pageerror', (e) => problems.push(`${name}: page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`${name}: console error: ${m.text()}`);
  });
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(base) && !u.startsWith(base.replace('http', 'ws')) && !u.startsWith('data:') && !u.startsWith('blob:')) {
      problems.push(`${name}: request to another origin: ${u}`);
    }
  });
}

async function main() {
  let done = step('start the server (embedded default, fresh data dir)');
  const srv = await startServer();
  done();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: !process.env.E2E_HEADED,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
  });
  const problems = [];
  try {
    const { base, demo } = srv;

    // 1. The merchant signs in to /admin.
    done = step('sign in to /admin');
    const adminCtx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const admin = await adminCtx.newPage();
    watch(admin, 'admin', base, problems);
    await admin.goto(`${base}/admin`);
    await admin.fill('#signin-email', demo.merchant_email);
    await admin.fill('#signin-password', demo.merchant_password);
    await admin.locator('#signin-form [type=submit]').click();
    await admin.locator('[data-testid=app]').waitFor({ state: 'visible', timeout: 15_000 });
    await admin.locator('[data-testid=store-name]').filter({ hasText: 'Demo' }).waitFor({ timeout: 5_000 });
    await admin.locator('[data-testid=connection-state][data-state=connected]').waitFor({ timeout: 15_000 });
    await admin.locator('[data-testid=order-feed]').waitFor({ state: 'attached', timeout: 5_000 });
    const kpi = async (name) => Number(await admin.locator(`[data-testid=kpi-${name}]`).getAttribute('data-value'));
    await admin.locator('[data-testid=kpi-orders][data-value]').waitFor({ timeout: 10_000 });
    const before = { orders: await kpi('orders'), revenue: await kpi('revenue') };
    await admin.screenshot({ path: join(out, 'admin-overview-before.png'), fullPage: true });
    done();

    // 2. A shopper buys the first product in /store, in another browser context.
    done = step('buy the first product in /store');
    const shopCtx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const shop = await shopCtx.newPage();
    watch(shop, 'store', base, problems);
    await shop.goto(`${base}/store`);
    await shop.locator('[data-testid=product-card]').first().waitFor({ timeout: 15_000 });
    await shop.screenshot({ path: join(out, 'store-grid.png'), fullPage: true });
    await shop.locator('[data-testid=product-card] a').first().click();
    await shop.locator('[data-testid=add-to-cart]').waitFor({ timeout: 10_000 });
    await shop.screenshot({ path: join(out, 'store-product.png'), fullPage: true });
    await shop.locator('[data-testid=add-to-cart]').click();
    await shop.locator('[data-testid=cart-link]:not([data-count="0"])').waitFor({ timeout: 10_000 });
    await shop.locator('[data-testid=cart-link]').click();
    await shop.locator('[data-testid=cart]').waitFor({ timeout: 10_000 });
    await shop.screenshot({ path: join(out, 'store-cart.png'), fullPage: true });
    await shop.locator('[data-testid=checkout]').click();
    await shop.locator('#checkout-form').waitFor({ timeout: 10_000 });
    const email = `e2e-${Date.now()}@shopper.test`;
    await shop.fill('#checkout-email', email);
    await shop.fill('#checkout-first-name', 'Ada');
    await shop.fill('#checkout-last-name', 'Lovelace');
    await shop.fill('#checkout-address1', '12 Analytical Way');
    await shop.fill('#checkout-city', 'Springfield');
    await shop.fill('#checkout-postal-code', '62701');
    const country = shop.locator('#checkout-country');
    if ((await country.evaluate((el) => el.tagName)) === 'SELECT') await country.selectOption('US');
    else await country.fill('US');
    const province = shop.locator('#checkout-province');
    if (await province.count()) {
      if ((await province.evaluate((el) => el.tagName)) === 'SELECT') await province.selectOption({ index: 1 });
      else await province.fill('IL');
    }
    await shop.screenshot({ path: join(out, 'store-checkout.png'), fullPage: true });
    await shop.locator('[data-testid=place-order]').click();
    const confirmation = shop.locator('[data-testid=order-confirmation]');
    await confirmation.waitFor({ timeout: 20_000 });
    const placedAt = Date.now();
    const orderNumber = await confirmation.getAttribute('data-order-number');
    if (!orderNumber) throw new Error('the confirmation has no data-order-number');
    done();
    console.log(`   order #${orderNumber}`);

    // 3. It appears in the admin feed within 2 s of the confirmation, without a reload.
    done = step('the order appears live in the admin feed (≤ 2 s)');
    const item = admin.locator(`[data-testid=order-feed] [data-testid=order-feed-item][data-order-number="${orderNumber}"]`);
    await item.first().waitFor({ timeout: Math.max(0, 2_000 - (Date.now() - placedAt)) });
    const latency = Date.now() - placedAt;
    done();
    console.log(`   in the feed ${latency} ms after the confirmation showed`);
    await shop.screenshot({ path: join(out, 'store-confirmation.png'), fullPage: true });
    await admin.screenshot({ path: join(out, 'admin-overview-live-order.png'), fullPage: true });

    // 4. The merchant marks the manual order paid; the KPI cards change.
    done = step('mark the order paid in /admin; the KPI cards change');
    await item.first().locator('[data-testid=mark-paid]').click();
    await admin.waitForFunction(
      (prev) => {
        const v = (n) => Number(document.querySelector(`[data-testid=kpi-${n}]`)?.getAttribute('data-value'));
        return v('orders') === prev.orders + 1 && v('revenue') > prev.revenue;
      },
      before,
      { timeout: 10_000 },
    );
    await admin.screenshot({ path: join(out, 'admin-overview-after.png'), fullPage: true });
    done();

    // The other dashboard views and the shopper's account render.
    done = step('the dashboard views render');
    for (const [view, hook] of [
      ['orders', '[data-testid=order-feed-item], table'],
      ['products', '[data-testid=products-table]'],
      ['customers', '[data-testid=customers-table]'],
      ['campaigns', '[data-testid=campaigns-table], .pg-empty'],
    ]) {
      await admin.goto(`${base}/admin#/${view}`);
      await admin.locator(hook).first().waitFor({ timeout: 10_000 });
      await admin.screenshot({ path: join(out, `admin-${view}.png`), fullPage: true });
    }
    await admin.goto(`${base}/admin#/customers`);
    await admin.locator('[data-testid=customer-row] a').first().click();
    await admin.locator('[data-testid=customer-detail] [data-testid=customer-ltv]').waitFor({ timeout: 10_000 });
    await admin.screenshot({ path: join(out, 'admin-customer-detail.png'), fullPage: true });
    done();

    // A campaign sent through the API: its page follows it live to SENT.
    done = step('a campaign page follows the send live');
    const api = async (query, variables) =>
      admin.evaluate(
        async ([q, v]) => {
          const t = JSON.parse(localStorage.getItem('omnisphere.admin'));
          const r = await fetch('/graphql', {
            method: 'POST',
            headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${t.accessToken}` },
            body: JSON.stringify({ query: q, variables: v }),
          });
          return r.json();
        },
        [query, variables],
      );
    const seg = await api(
      'mutation($in: SegmentInput!) { segmentCreate(input: $in) { segment { id } userErrors { code message } } }',
      { in: { name: 'E2E subscribers', rules: { match: 'all', conditions: [{ kind: 'consent', operator: 'equals', value: 'SUBSCRIBED' }] } } },
    );
    const segmentId = seg?.data?.segmentCreate?.segment?.id;
    if (!segmentId) throw new Error(`segmentCreate: ${JSON.stringify(seg)}`);
    const camp = await api(
      'mutation($in: CampaignInput!) { campaignCreate(input: $in) { campaign { id } userErrors { code message } } }',
      { in: { name: 'E2E launch', segmentId, subject: 'Hello', htmlBody: '<p>Hello from the browser test.</p>' } },
    );
    const campaignId = camp?.data?.campaignCreate?.campaign?.id;
    if (!campaignId) throw new Error(`campaignCreate: ${JSON.stringify(camp)}`);
    await admin.goto(`${base}/admin#/campaigns/${campaignId}`);
    await admin.locator('[data-testid=campaign-progress][data-status=DRAFT]').waitFor({ timeout: 10_000 });
    await admin.locator('[data-testid=connection-state][data-state=connected]').waitFor({ timeout: 10_000 });
    await admin.waitForTimeout(500); // the subscription's start message reaches the server
    const sent = await api('mutation($id: ID!) { campaignSend(id: $id) { campaign { status } userErrors { code message } } }', { id: campaignId });
    if (sent?.errors || sent?.data?.campaignSend?.userErrors?.length) throw new Error(`campaignSend: ${JSON.stringify(sent)}`);
    await admin.locator('[data-testid=campaign-progress][data-status=SENT]').waitFor({ timeout: 30_000 });
    await admin.screenshot({ path: join(out, 'admin-campaign.png'), fullPage: true });
    done();

    // Phone width.
    done = step('phone width (390 px)');
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const p1 = await phone.newPage();
    watch(p1, 'store (phone)', base, problems);
    await p1.goto(`${base}/store`);
    await p1.locator('[data-testid=product-card]').first().waitFor({ timeout: 15_000 });
    const overflow = await p1.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 1) problems.push(`store (phone): the page is ${overflow}px wider than the screen`);
    await p1.screenshot({ path: join(out, 'store-phone.png'), fullPage: true });
    const p2 = await phone.newPage();
    watch(p2, 'admin (phone)', base, problems);
    await p2.goto(`${base}/admin`);
    await p2.locator('#signin-form').waitFor({ timeout: 10_000 });
    await p2.screenshot({ path: join(out, 'admin-phone-signin.png'), fullPage: true });
    done();

    // 5. The playground.
    done = step('/playground loads GraphiQL with the storefront key');
    const pg = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    watch(pg, 'playground', base, problems);
    await pg.goto(`${base}/playground`);
    await pg.locator('.graphiql-container').waitFor({ timeout: 15_000 });
    await pg.locator('.graphiql-execute-button').click();
    await pg.locator('.result-window').filter({ hasText: 'totalCount' }).waitFor({ timeout: 10_000 });
    const result = await pg.locator('.result-window').innerText();
    if (result.includes('"errors"')) problems.push(`playground: the example query failed: ${result.slice(0, 300)}`);
    await pg.screenshot({ path: join(out, 'playground.png') });
    done();

    if (problems.length) throw new Error(`problems seen in the pages:\n  ${problems.join('\n  ')}`);
    console.log(`\nbrowser test passed (${steps.length} steps); screenshots in ${out}`);
  } finally {
    await browser.close();
    await srv.stop();
  }
}

main().catch((e) => {
  console.error(`\nbrowser test FAILED: ${e.stack || e}`);
  process.exit(1);
});
