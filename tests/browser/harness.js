// What the browser tests (flow.js, self_service.js, mfa.js) share: the
// settings they read, the named checks and the `N passed, M failed` line,
// Chromium's launch, a watch on every page (console errors, page errors, CSP
// violations, requests to other hosts; navigations to the client's redirect
// URI answered here and recorded), screenshots, form submission, and the
// token endpoint.
//
// Each test is its own process, so the state below (counts, problems,
// redirects) is the test's own. Call configure() once before the rest.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { chromium } = require('playwright-core');

// ------------------------------------------------------------ settings

// An environment variable the test cannot run without.
function required(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`browser test: ${name} is not set (run scripts/browser-test)`);
    process.exit(2);
  }
  return v;
}

// The settings every test reads (see the header of each test).
function commonSettings() {
  const issuer = required('BROWSER_TEST_ISSUER').replace(/\/$/, '');
  const redirectUri = process.env.BROWSER_TEST_REDIRECT_URI || 'https://app.example/cb';
  return {
    issuer,
    clientId: required('BROWSER_TEST_CLIENT_ID'),
    clientSecret: required('BROWSER_TEST_CLIENT_SECRET'),
    clientName: process.env.BROWSER_TEST_CLIENT_NAME || 'Example App',
    redirectUri,
    artifacts: path.resolve(
      process.env.BROWSER_TEST_ARTIFACTS || path.join(__dirname, '..', 'artifacts'),
    ),
    chromium: process.env.BROWSER_TEST_CHROMIUM || '/usr/bin/chromium',
    issuerOrigin: new URL(issuer).origin,
    redirectOrigin: new URL(redirectUri).origin,
  };
}

const cfg = {};

// Sets the settings the helpers below use (an object like commonSettings()'s).
function configure(settings) {
  Object.assign(cfg, settings);
  return cfg;
}

const DESKTOP = { width: 1280, height: 800 };
const MOBILE = { width: 375, height: 740 };

// ------------------------------------------------------------ checks

const counts = { passed: 0, failed: 0 };

class CheckFailed extends Error {}

function assert(cond, message) {
  if (!cond) throw new CheckFailed(message);
}

// Runs one named check. A check that throws is a failure; the message is
// printed and the run goes on with the next independent check.
async function check(name, fn) {
  const start = Date.now();
  try {
    await fn();
    counts.passed += 1;
    console.log(`PASS ${name} (${Date.now() - start} ms)`);
    return true;
  } catch (err) {
    counts.failed += 1;
    const msg = err instanceof CheckFailed ? err.message : (err && err.stack) || String(err);
    console.log(`FAIL ${name}: ${msg}`);
    return false;
  }
}

// A check that cannot run because an earlier one it depends on failed.
function blocked(name, because) {
  counts.failed += 1;
  console.log(`FAIL ${name}: not run, because '${because}' failed`);
}

// Runs `main`; an exception is one more failure. Then `after` (more output)
// and the last line, `N passed, M failed`; exit status 0 only when every
// check passed.
function runMain(main, { label = 'browser test', after = () => {} } = {}) {
  main()
    .catch((err) => {
      counts.failed += 1;
      console.log(`FAIL ${label} aborted: ${(err && err.stack) || err}`);
    })
    .finally(() => {
      after();
      console.log(`${counts.passed} passed, ${counts.failed} failed`);
      process.exitCode = counts.failed === 0 && counts.passed > 0 ? 0 : 1;
    });
}

// ------------------------------------------------------------ OAuth

function b64url(buf) {
  return buf.toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function sha256hex(s) {
  return crypto.createHash('sha256').update(s, 'utf8').digest('hex');
}

function newPkce() {
  const verifier = b64url(crypto.randomBytes(32));
  const challenge = b64url(crypto.createHash('sha256').update(verifier).digest());
  return { verifier, challenge };
}

// An authorization request for the configured client (code flow, PKCE S256).
function authorizeUrl({ scope = 'openid profile email', state, nonce, challenge, extra = {} }) {
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: cfg.clientId,
    redirect_uri: cfg.redirectUri,
    scope,
    state,
    nonce: nonce || `n-${b64url(crypto.randomBytes(9))}`,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...extra,
  });
  return `${cfg.issuer}/authorize?${q.toString().replace(/\+/g, '%20')}`;
}

// POST /token with the client's secret (HTTP Basic); { status, body }.
async function token(params) {
  const resp = await fetch(`${cfg.issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(
        `${encodeURIComponent(cfg.clientId)}:${encodeURIComponent(cfg.clientSecret)}`,
      ).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams(params),
  });
  const text = await resp.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = { unparsed: text };
  }
  return { status: resp.status, body };
}

// ------------------------------------------------------------ the browser

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// The options for chromium.launch / launchPersistentContext.
function launchOptions(extra = {}) {
  assert(fs.existsSync(cfg.chromium), `${cfg.chromium} is missing (apt-get install chromium)`);
  return { executablePath: cfg.chromium, headless: true, args: CHROMIUM_ARGS, ...extra };
}

async function launch() {
  return chromium.launch(launchOptions());
}

// Everything the pages do that they should not: console errors, uncaught
// exceptions, CSP violations, requests to other hosts.
const problems = [];
// Navigations to the redirect URI, captured instead of sent.
const redirects = [];
// Screenshots taken, by file name.
const shots = [];

// Watches `page`: records problems, answers navigations to the redirect
// URI's origin here (its host does not exist) and records their URLs,
// refuses requests to any other host.
async function watchPage(page) {
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') {
      problems.push(`console ${msg.type()} on ${page.url()}: ${msg.text()}`);
    }
  });
  page.on('pageerror', (err) => problems.push(`page error on ${page.url()}: ${err.message}`));
  // CSP violations are also logged to the console; this catches the ones a
  // report-only or future policy would raise without a console line.
  await page.exposeFunction('__portcullisCspViolation', (v) =>
    problems.push(`CSP violation on ${page.url()}: ${v}`),
  );
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__portcullisCspViolation(`${e.violatedDirective} blocked ${e.blockedURI}`);
    });
  });
  await page.route(`${cfg.redirectOrigin}/**`, (route) => {
    redirects.push(route.request().url());
    return route.fulfill({
      status: 200,
      contentType: 'text/html; charset=utf-8',
      body: '<!doctype html><title>Example App</title><h1>Back at the application</h1>',
    });
  });
  await page.route(
    (url) => url.origin !== cfg.issuerOrigin && url.origin !== cfg.redirectOrigin,
    (route) => {
      problems.push(`request to another host: ${route.request().url()}`);
      return route.abort();
    },
  );
  return page;
}

// A full-page screenshot into the artifacts directory.
async function shot(page, file, fullPage = true) {
  const where = path.join(cfg.artifacts, file);
  await page.screenshot({ path: where, fullPage });
  shots.push(file);
  console.log(`     screenshot ${where}`);
}

// Waits until navigation number `count` to the redirect URI was captured.
async function waitForRedirect(page, count) {
  const deadline = Date.now() + 30_000;
  while (redirects.length < count) {
    assert(Date.now() < deadline, `no navigation to ${cfg.redirectUri} (page is ${page.url()})`);
    await page.waitForTimeout(50);
  }
  // Let the (fulfilled) navigation finish before the next one starts. With
  // the redirect intercepted, Chromium first commits a transient
  // chrome-error:// page, so the form's own navigation is not the end.
  await page.waitForURL((u) => u.origin === cfg.redirectOrigin, { waitUntil: 'load' });
  return new URL(redirects[count - 1]);
}

// Clicks a submit button and waits until the page the form led to has
// loaded (the URL may stay the same: /login answers /login).
async function submit(page, button) {
  const navigated = page
    .waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame(), timeout: 30_000 })
    .catch(() => {
      const seen = problems.length ? `; problems so far:\n  ${problems.join('\n  ')}` : '';
      throw new CheckFailed(`the form led nowhere (still on ${page.url()})${seen}`);
    });
  await button.click();
  await navigated;
  await page.waitForLoadState('load');
}

// Chromium logs every 4xx/5xx document as "Failed to load resource"; drops
// that line for a status a check expects (and, given, whose text matches).
function expectLoggedStatus(status, also = null) {
  const re = new RegExp(`Failed to load resource: the server responded with a status of ${status}`);
  for (let i = problems.length - 1; i >= 0; i -= 1) {
    if (re.test(problems[i]) && (!also || problems[i].includes(also))) problems.splice(i, 1);
  }
}

// The page's alerts that say something (role=alert). Pages keep an empty
// alert region for messages a script may show (the passkey button's
// [data-passkey-error]); that one is not an error until it has text.
function alerts(page) {
  return page.getByRole('alert').filter({ hasText: /\S/ });
}

function takeProblems() {
  return problems.splice(0, problems.length);
}

// The check every test ends its parts with.
async function noProblems(what) {
  const suffix = what ? ` (${what})` : '';
  await check(`no console errors, page errors, CSP violations or external requests${suffix}`, async () => {
    const seen = takeProblems();
    assert(seen.length === 0, `\n  ${seen.join('\n  ')}`);
  });
}

module.exports = {
  required,
  commonSettings,
  configure,
  cfg,
  DESKTOP,
  MOBILE,
  counts,
  CheckFailed,
  assert,
  check,
  blocked,
  runMain,
  b64url,
  sha256hex,
  newPkce,
  authorizeUrl,
  token,
  CHROMIUM_ARGS,
  launchOptions,
  launch,
  problems,
  redirects,
  shots,
  watchPage,
  shot,
  waitForRedirect,
  submit,
  expectLoggedStatus,
  alerts,
  takeProblems,
  noProblems,
};
