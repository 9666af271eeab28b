#!/usr/bin/env node
// Browser test of the device authorization grant (RFC 8628, issue 18):
// a device (this process, with fetch) asks /device_authorization for a code
// and polls /token at the interval while headless Chromium (Debian's
// package, driven by playwright-core) opens verification_uri_complete,
// confirms the prefilled code, signs in, and allows on the consent page
// that shows the code; the poller then gets its tokens, and the ID token is
// verified against the server's JWKS with an independent JOSE library
// (`jose`).
//
// Normally started by scripts/browser-test. Settings (environment):
//   BROWSER_TEST_ISSUER           issuer URL of the running server (required)
//   BROWSER_TEST_CLIENT_ID        the common (web) client (required by the harness)
//   BROWSER_TEST_CLIENT_SECRET    its secret (required by the harness)
//   BROWSER_TEST_DEVICE_CLIENT_ID a public client with the device grant (required)
//   BROWSER_TEST_DEVICE_CLIENT_NAME its display name (default "Living Room TV")
//   BROWSER_TEST_USERNAME / _PASSWORD  a user without factors (required)
//   BROWSER_TEST_ARTIFACTS        where screenshots go (default tests/artifacts)
//   BROWSER_TEST_CHROMIUM         the browser (default /usr/bin/chromium)
//
// Exits 0 when every check passed; the last line is `N passed, M failed`.
'use strict';

const fs = require('node:fs');
const h = require('./harness');

const { assert, check, blocked, submit, shot } = h;

const S = h.configure(h.commonSettings());
const ISSUER = S.issuer;
const DEVICE_CLIENT = h.required('BROWSER_TEST_DEVICE_CLIENT_ID');
const DEVICE_NAME = process.env.BROWSER_TEST_DEVICE_CLIENT_NAME || 'Living Room TV';
const USER = {
  username: h.required('BROWSER_TEST_USERNAME'),
  password: h.required('BROWSER_TEST_PASSWORD'),
};
const GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

async function post(path, params) {
  const resp = await fetch(`${ISSUER}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params),
  });
  return { status: resp.status, headers: resp.headers, body: await resp.json() };
}

// The device's poller: polls at the interval until tokens or a final
// error; records every answer.
function startPoller(deviceCode, intervalSecs) {
  const seen = [];
  let stop = false;
  const done = (async () => {
    let interval = intervalSecs;
    const deadline = Date.now() + 120_000;
    while (!stop && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, interval * 1000 + 100));
      const r = await post('/token', {
        grant_type: GRANT,
        device_code: deviceCode,
        client_id: DEVICE_CLIENT,
      });
      if (r.status === 200) return { seen, tokens: r.body };
      seen.push(r.body.error);
      if (r.body.error === 'slow_down') interval += 5;
      else if (r.body.error !== 'authorization_pending') return { seen, tokens: null };
    }
    return { seen, tokens: null };
  })();
  return { done, cancel: () => { stop = true; } };
}

let JOSE;
async function verifyIdToken(jwt) {
  JOSE = JOSE || (await import('jose'));
  const disc = await (await fetch(`${ISSUER}/.well-known/openid-configuration`)).json();
  const jwks = JOSE.createRemoteJWKSet(new URL(disc.jwks_uri));
  try {
    const { payload } = await JOSE.jwtVerify(jwt, jwks, { issuer: ISSUER, audience: DEVICE_CLIENT });
    return payload;
  } catch (err) {
    throw new h.CheckFailed(`the ID token does not verify: ${err.code || ''} ${err.message}`);
  }
}

async function main() {
  fs.mkdirSync(S.artifacts, { recursive: true });
  let d;
  const started = await check('POST /device_authorization answers a device and a user code', async () => {
    const r = await post('/device_authorization', {
      client_id: DEVICE_CLIENT,
      scope: 'openid profile offline_access',
    });
    assert(r.status === 200, `status ${r.status}: ${JSON.stringify(r.body)}`);
    assert(r.headers.get('cache-control') === 'no-store', 'no Cache-Control: no-store');
    d = r.body;
    assert(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/.test(d.user_code), `user_code ${d.user_code}`);
    assert(d.verification_uri === `${ISSUER}/device`, `verification_uri ${d.verification_uri}`);
    assert(
      d.verification_uri_complete === `${ISSUER}/device?user_code=${d.user_code}`,
      `verification_uri_complete ${d.verification_uri_complete}`,
    );
    assert(d.interval >= 1 && d.expires_in > 0, JSON.stringify(d));
  });
  if (!started) {
    blocked('the browser approves, the device gets tokens', 'POST /device_authorization');
    return;
  }
  const poller = startPoller(d.device_code, d.interval);
  const browser = await h.launch();
  try {
    const context = await browser.newContext({ viewport: h.DESKTOP });
    const page = await h.watchPage(await context.newPage());
    const approved = await check('the browser enters the code, signs in and allows', async () => {
      await page.goto(d.verification_uri_complete);
      const input = page.locator('#user_code');
      assert((await input.inputValue()) === d.user_code, 'the code is prefilled');
      assert(page.url().startsWith(`${ISSUER}/device`), `stayed on ${page.url()}: nothing approved by the link`);
      await shot(page, 'device-entry.png');
      await submit(page, page.getByRole('button', { name: 'Continue' }));
      assert((await page.locator('h1').innerText()).includes('Sign in'), 'the sign-in page');
      await page.locator('#username').fill(USER.username);
      await page.locator('#password').fill(USER.password);
      await submit(page, page.getByRole('button', { name: 'Sign in', exact: true }));
      const heading = await page.locator('h1').innerText();
      assert(heading.includes(DEVICE_NAME), `consent heading: ${heading}`);
      const shown = await page.locator('[data-user-code]').innerText();
      assert(shown === d.user_code, `the consent page shows ${shown}`);
      await shot(page, 'device-consent.png');
      await submit(page, page.getByRole('button', { name: 'Allow' }));
      const text = await page.locator('main, body').first().innerText();
      assert(text.includes('You may return to your device'), `after Allow: ${text}`);
      await shot(page, 'device-done.png');
    });
    if (!approved) {
      poller.cancel();
      blocked('the poller gets tokens', 'the browser enters the code, signs in and allows');
    } else {
      await check('the poller saw authorization_pending, then got verified tokens', async () => {
        const { seen, tokens } = await poller.done;
        assert(tokens, `no tokens; answers: ${seen.join(', ')}`);
        assert(seen.every((e) => e === 'authorization_pending' || e === 'slow_down'), seen.join(', '));
        assert(tokens.refresh_token, 'a refresh token for offline_access');
        const id = await verifyIdToken(tokens.id_token);
        assert(typeof id.sid === 'string' && typeof id.auth_time === 'number', JSON.stringify(id));
        assert(Array.isArray(id.amr) && id.amr.includes('pwd'), `amr ${JSON.stringify(id.amr)}`);
        assert(id.preferred_username === USER.username, JSON.stringify(id));
      });
      await check('the device code works once', async () => {
        await new Promise((r) => setTimeout(r, d.interval * 1000 + 100));
        const r = await post('/token', { grant_type: GRANT, device_code: d.device_code, client_id: DEVICE_CLIENT });
        assert(r.status === 400 && r.body.error === 'invalid_grant', JSON.stringify(r.body));
      });
    }
    await h.noProblems('device flow');
  } finally {
    poller.cancel();
    await browser.close().catch(() => {});
  }
}

h.runMain(main, { label: 'device.js' });
