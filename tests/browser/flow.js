#!/usr/bin/env node
// Browser test of portcullis's hosted pages: headless Chromium (Debian's
// package, driven by playwright-core) goes from /authorize through the login
// and consent pages to the client's redirect URI, then through RP-initiated
// logout (the confirmation page) to the client's post-logout page, and
// checks what a person and an assistive technology would meet on the way.
// Saves screenshots.
//
// Normally started by scripts/browser-test, which runs a server and
// registers the client and the user. Settings (environment):
//   BROWSER_TEST_ISSUER         issuer URL of the running server (required)
//   BROWSER_TEST_CLIENT_ID      a confidential client (required)
//   BROWSER_TEST_CLIENT_SECRET  its secret (required: the code is redeemed)
//   BROWSER_TEST_CLIENT_NAME    its display name (default "Example App")
//   BROWSER_TEST_REDIRECT_URI   its redirect URI (default https://app.example/cb)
//   BROWSER_TEST_POST_LOGOUT_REDIRECT_URI  its registered post-logout redirect
//                               URI, on the redirect URI's origin
//                               (default https://app.example/signed-out)
//   BROWSER_TEST_USERNAME / BROWSER_TEST_PASSWORD   a user (required)
//   BROWSER_TEST_DB             the server's SQLite file (the code-hash check)
//   BROWSER_TEST_SERVER_LOG     the server's log file (no code in the log)
//   BROWSER_TEST_DATA_DIR       the server's data directory (no code in any file)
//   BROWSER_TEST_ARTIFACTS      where screenshots go (default tests/artifacts)
//   BROWSER_TEST_CHROMIUM       the browser (default /usr/bin/chromium)
//
// Exits 0 when every check passed; the last line is `N passed, M failed`.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { chromium } = require('playwright-core');
const h = require('./harness');

const { assert, check, blocked, b64url, sha256hex, newPkce, authorizeUrl, shot, submit, waitForRedirect } = h;
const { problems, redirects, DESKTOP, MOBILE } = h;

const S = h.configure(h.commonSettings());
const ISSUER = S.issuer;
const CLIENT_ID = S.clientId;
const CLIENT_SECRET = S.clientSecret;
const USERNAME = h.required('BROWSER_TEST_USERNAME');
const PASSWORD = h.required('BROWSER_TEST_PASSWORD');
const CLIENT_NAME = S.clientName;
const REDIRECT_URI = S.redirectUri;
const POST_LOGOUT_URI =
  process.env.BROWSER_TEST_POST_LOGOUT_REDIRECT_URI || 'https://app.example/signed-out';
const DB = process.env.BROWSER_TEST_DB || '';
const SERVER_LOG = process.env.BROWSER_TEST_SERVER_LOG || '';
const DATA_DIR = process.env.BROWSER_TEST_DATA_DIR || '';
const ARTIFACTS = S.artifacts;

// The pages' texts the checks look for (templates/*.html, src/http/pages.rs).
const WRONG_PASSWORD = 'Incorrect username or password.';
const SCOPE_WORDS = {
  openid: 'Confirm who you are',
  profile: 'See your name',
  email: 'See your e-mail address',
};

// ------------------------------------------------------------ the browser

// A page of `context`, watched (harness.js: problems, redirects).
async function preparePage(context) {
  return h.watchPage(await context.newPage());
}

// ------------------------------------------------------------ the checks

async function main() {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const options = h.launchOptions({ viewport: DESKTOP });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'portcullis-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, options);
    context.setDefaultTimeout(30_000);
    await run(context);
  } finally {
    if (context) await context.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

async function run(context) {
  const page = await preparePage(context);
  const state = `st-${b64url(crypto.randomBytes(9))}`;
  const nonce = `n-${b64url(crypto.randomBytes(9))}`;
  const pkce = newPkce();
  const url = authorizeUrl({ state, nonce, challenge: pkce.challenge });
  let loginResponse;
  let wrongPasswordPage;

  const loginShown = await check('login page shows the application and a sign-in form', async () => {
    loginResponse = await page.goto(url);
    assert(loginResponse.status() === 200, `GET /authorize answered ${loginResponse.status()}`);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    const lead = await page.locator('main').innerText();
    assert(lead.includes(CLIENT_NAME), `the login page does not name "${CLIENT_NAME}":\n${lead}`);
    const title = await page.title();
    assert(title.includes(CLIENT_NAME), `the page title "${title}" does not name the application`);
    assert(await page.getByLabel('Username').isVisible(), 'no visible field labelled "Username"');
    assert(await page.getByLabel('Password').isVisible(), 'no visible field labelled "Password"');
    await shot(page, 'login.png');
  });

  await check('pages are served with a CSP that forbids other origins and framing', async () => {
    assert(loginResponse, 'no login page response');
    const csp = (await loginResponse.allHeaders())['content-security-policy'] || '';
    assert(csp.includes("default-src 'self'"), `CSP is "${csp}"`);
    assert(csp.includes("frame-ancestors 'none'"), `CSP does not forbid framing: "${csp}"`);
  });

  if (loginShown) {
    await check('keyboard: Tab reaches username, password, then the Sign in button', async () => {
      const focused = () =>
        page.evaluate(() => {
          const el = document.activeElement;
          if (!el || el === document.body) return 'body';
          return el.id || `${el.tagName.toLowerCase()}:${(el.textContent || '').trim()}`;
        });
      assert((await focused()) === 'username', `username is not focused on load (${await focused()})`);
      // Start from the heading (as a reader who clicked on the text would)
      // and walk with Tab.
      await page.getByRole('heading', { name: 'Sign in' }).click();
      const order = [];
      for (let i = 0; i < 8; i += 1) {
        await page.keyboard.press('Tab');
        order.push(await focused());
      }
      const u = order.indexOf('username');
      const p = order.indexOf('password');
      const s = order.indexOf('button:Sign in');
      assert(u >= 0 && p === u + 1 && s === p + 1, `Tab order is ${order.join(' → ')}`);
      // The focused control shows a visible focus indicator.
      await page.getByLabel('Username').focus();
      await page.keyboard.press('Tab'); // keyboard focus → :focus-visible
      const outline = await page.evaluate(() => {
        const st = getComputedStyle(document.activeElement);
        return `${st.outlineStyle} ${st.outlineWidth}`;
      });
      assert(!outline.startsWith('none') && !outline.endsWith(' 0px'), `no focus outline (${outline})`);
    });

    await check('login page at 375 px wide (mobile) has no horizontal scrolling', async () => {
      await page.setViewportSize(MOBILE);
      const widths = await page.evaluate(() => ({
        doc: document.documentElement.scrollWidth,
        win: window.innerWidth,
      }));
      await shot(page, 'login-mobile.png');
      await page.setViewportSize(DESKTOP);
      assert(widths.doc <= widths.win, `page is ${widths.doc} px wide in a ${widths.win} px window`);
    });

    await check('a wrong password shows the generic error, tied to the field', async () => {
      await page.getByLabel('Username').fill(USERNAME);
      await page.getByLabel('Password').fill(`${PASSWORD}-wrong`);
      await submit(page, page.getByRole('button', { name: 'Sign in', exact: true }));
      const alert = h.alerts(page);
      await alert.waitFor();
      const text = (await alert.innerText()).trim();
      assert(text === WRONG_PASSWORD, `error reads "${text}"`);
      const described = await page.getByLabel('Username').getAttribute('aria-describedby');
      assert(described === 'login-error', 'the username field is not described by the error');
      assert(
        (await page.getByRole('heading', { name: 'Sign in' }).count()) === 1,
        'not back on the login page',
      );
      wrongPasswordPage = (await page.content()).replaceAll(`value="${USERNAME}"`, 'value="USER"');
      await shot(page, 'login-error.png');
    });

    await check('an unknown username shows the very same error', async () => {
      const nobody = `nobody-${b64url(crypto.randomBytes(6))}`;
      await page.getByLabel('Username').fill(nobody);
      await page.getByLabel('Password').fill(PASSWORD);
      await submit(page, page.getByRole('button', { name: 'Sign in', exact: true }));
      const text = (await h.alerts(page).innerText()).trim();
      assert(text === WRONG_PASSWORD, `error reads "${text}"`);
      // Apart from the echoed username, the page is byte-for-byte the one a
      // wrong password gets: nothing tells whether the account exists.
      const html = (await page.content()).replaceAll(`value="${nobody}"`, 'value="USER"');
      assert(wrongPasswordPage, 'no wrong-password page to compare with');
      assert(html === wrongPasswordPage, 'the page differs from the wrong-password page');
    });
  } else {
    for (const n of ['keyboard', 'mobile', 'wrong password', 'unknown username']) {
      blocked(n, 'login page');
    }
  }

  let consentShown = false;
  if (loginShown) {
    consentShown = await check('signing in by the labelled fields leads to the consent page', async () => {
      await page.getByLabel('Username').fill(USERNAME);
      await page.getByLabel('Password').fill(PASSWORD);
      await submit(page, page.getByRole('button', { name: 'Sign in', exact: true }));
      await page
        .getByRole('heading', { name: `${CLIENT_NAME} wants to access your account` })
        .waitFor();
    });
  } else {
    blocked('sign in', 'login page');
  }

  if (consentShown) {
    await check('consent page lists each scope in plain words', async () => {
      const items = (await page.getByRole('listitem').allInnerTexts()).map((t) => t.trim());
      for (const [scope, words] of Object.entries(SCOPE_WORDS)) {
        assert(
          items.some((t) => t.startsWith(words)),
          `no line for ${scope} ("${words}…") in: ${JSON.stringify(items)}`,
        );
      }
      assert(
        items.every((t) => !Object.keys(SCOPE_WORDS).includes(t)),
        `a raw scope name is shown: ${JSON.stringify(items)}`,
      );
      const main = await page.locator('main').innerText();
      assert(main.includes(USERNAME), 'the page does not say who is signed in');
      assert(await page.getByRole('button', { name: 'Deny' }).isVisible(), 'no Deny button');
      await shot(page, 'consent.png');
      await page.setViewportSize(MOBILE);
      await shot(page, 'consent-mobile.png');
      await page.setViewportSize(DESKTOP);
    });
  } else {
    blocked('consent page', 'sign in');
  }

  let code;
  const allowed = consentShown && (await check('Allow returns to the redirect URI with code, state and iss', async () => {
    await submit(page, page.getByRole('button', { name: 'Allow' }));
    const back = await waitForRedirect(page, 1);
    assert(`${back.origin}${back.pathname}` === REDIRECT_URI, `went to ${back.href}`);
    code = back.searchParams.get('code');
    assert(code && code.length >= 32, `no usable code in ${back.href}`);
    assert(back.searchParams.get('state') === state, `state is ${back.searchParams.get('state')}, sent ${state}`);
    assert(back.searchParams.get('iss') === ISSUER, `iss is ${back.searchParams.get('iss')}, want ${ISSUER}`);
    assert(!back.searchParams.has('error'), `error ${back.searchParams.get('error')}`);
  }));
  if (!consentShown) blocked('Allow', 'consent page');

  await h.noProblems();

  if (allowed) {
    await check('the code is stored only as its SHA-256 hash', async () => {
      assert(DB, 'BROWSER_TEST_DB is not set');
      const hash = sha256hex(code);
      const sql = (q) => {
        const r = spawnSync('sqlite3', ['-readonly', '-separator', '|', DB, q], { encoding: 'utf8' });
        assert(r.status === 0, `sqlite3 failed: ${r.error || r.stderr}`);
        return r.stdout.trim();
      };
      const row = sql(
        `SELECT client_id, redirect_uri, nonce, code_challenge, code_challenge_method, scope ` +
          `FROM authorization_codes WHERE code_hash = '${hash}'`,
      );
      assert(row, `no authorization_codes row with code_hash = sha256(code) = ${hash}`);
      const [cid, ruri, n, chal, method, scope] = row.split('|');
      assert(cid === CLIENT_ID, `stored client_id ${cid}`);
      assert(ruri === REDIRECT_URI, `stored redirect_uri ${ruri}`);
      assert(n === nonce, `stored nonce ${n}`);
      assert(chal === pkce.challenge && method === 'S256', `stored challenge ${chal} ${method}`);
      assert(['openid', 'profile', 'email'].every((s) => scope.split(' ').includes(s)), `scope ${scope}`);
      // Neither a column (as text) nor the bytes of the database and its
      // write-ahead log hold the plain code.
      const dump = spawnSync('sqlite3', ['-readonly', DB, '.dump'], { encoding: 'utf8', maxBuffer: 1 << 28 });
      assert(dump.status === 0, `sqlite3 .dump failed: ${dump.stderr}`);
      assert(dump.stdout.includes(hash), 'the dump does not contain the hash (is it the right file?)');
      assert(!dump.stdout.includes(code), 'the plain code appears in the database dump');
      for (const f of [DB, `${DB}-wal`, `${DB}-shm`, `${DB}-journal`]) {
        if (fs.existsSync(f)) {
          assert(!fs.readFileSync(f).includes(Buffer.from(code)), `the plain code appears in ${f}`);
        }
      }
      // Nor does any other file the server wrote (event files, spool, keys).
      if (DATA_DIR) {
        const walk = (dir) =>
          fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
            e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)],
          );
        for (const f of walk(DATA_DIR)) {
          assert(!fs.readFileSync(f).includes(Buffer.from(code)), `the plain code appears in ${f}`);
        }
      }
      if (SERVER_LOG) {
        assert(!fs.readFileSync(SERVER_LOG).includes(Buffer.from(code)), 'the plain code appears in the server log');
      }
    });

    await check('the code redeems once at the token endpoint with the PKCE verifier', async () => {
      const redeem = () =>
        fetch(`${ISSUER}/token`, {
          method: 'POST',
          headers: {
            authorization: `Basic ${Buffer.from(
              `${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET)}`,
            ).toString('base64')}`,
            'content-type': 'application/x-www-form-urlencoded',
          },
          body: new URLSearchParams({
            grant_type: 'authorization_code',
            code,
            redirect_uri: REDIRECT_URI,
            code_verifier: pkce.verifier,
          }),
        });
      const first = await redeem();
      const body = await first.json();
      assert(first.status === 200, `token endpoint answered ${first.status}: ${JSON.stringify(body)}`);
      assert(body.access_token && body.id_token, `no tokens: ${Object.keys(body)}`);
      const claims = JSON.parse(Buffer.from(body.id_token.split('.')[1], 'base64url').toString());
      assert(claims.nonce === nonce, `id_token nonce ${claims.nonce}`);
      assert(claims.iss === ISSUER, `id_token iss ${claims.iss}`);
      const again = await redeem();
      assert(again.status === 400, `a second redemption answered ${again.status}`);
      assert((await again.json()).error === 'invalid_grant', 'a second redemption is not invalid_grant');
      const consumed = spawnSync('sqlite3', ['-readonly', DB,
        `SELECT consumed_at IS NOT NULL FROM authorization_codes WHERE code_hash = '${sha256hex(code)}'`],
        { encoding: 'utf8' }).stdout.trim();
      assert(consumed === '1', 'the stored code is not marked consumed');
    });
  } else {
    blocked('code stored as a hash', 'Allow');
    blocked('code redeems', 'Allow');
  }

  if (allowed) {
    await check('Deny (prompt=consent) returns access_denied with state and iss', async () => {
      const denyState = `st-${b64url(crypto.randomBytes(9))}`;
      const p = newPkce();
      await page.goto(
        authorizeUrl({ state: denyState, nonce: 'n-deny', challenge: p.challenge, extra: { prompt: 'consent' } }),
      );
      await submit(page, page.getByRole('button', { name: 'Deny' }));
      const back = await waitForRedirect(page, 2);
      assert(back.searchParams.get('error') === 'access_denied', `went to ${back.href}`);
      assert(back.searchParams.get('state') === denyState, `state ${back.searchParams.get('state')}`);
      assert(back.searchParams.get('iss') === ISSUER, `iss ${back.searchParams.get('iss')}`);
      assert(!back.searchParams.has('code'), 'a code was issued after Deny');
    });
  } else {
    blocked('Deny', 'Allow');
  }

  await check('an unknown client gets an error page (400), never a redirect', async () => {
    const before = redirects.length;
    const resp = await page.goto(
      `${ISSUER}/authorize?response_type=code&client_id=no-such-client&redirect_uri=${encodeURIComponent(REDIRECT_URI)}&state=x`,
    );
    assert(resp.status() === 400, `status ${resp.status()}`);
    // Chromium logs every 4xx document as "Failed to load resource"; this
    // one is expected.
    const expected = /Failed to load resource: the server responded with a status of 400/;
    for (let i = problems.length - 1; i >= 0; i -= 1) {
      if (expected.test(problems[i]) && problems[i].includes('client_id=no-such-client')) problems.splice(i, 1);
    }
    assert(redirects.length === before, 'the browser was sent to the redirect URI');
    assert(await h.alerts(page).isVisible(), 'the error is not announced (role=alert)');
    await shot(page, 'error.png');
  });

  await h.noProblems('later pages');

  await logout(page, allowed);
}

// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): without an
// id_token_hint the user is asked first; "Sign out" answers with a 303 to
// the client's post_logout_redirect_uri, which Chromium checks against the
// confirmation page's CSP form-action (the page allows that origin).
async function logout(page, signedIn) {
  if (!signedIn) {
    for (const n of ['logout confirmation', 'logout redirect', 'signed out']) blocked(n, 'Allow');
    return;
  }
  const logoutState = `lo-${b64url(crypto.randomBytes(9))}`;
  const q = new URLSearchParams({
    client_id: CLIENT_ID,
    post_logout_redirect_uri: POST_LOGOUT_URI,
    state: logoutState,
  });
  let confirmResponse;
  const asked = await check('RP-initiated logout without a hint asks the user first', async () => {
    confirmResponse = await page.goto(`${ISSUER}/logout?${q}`);
    assert(confirmResponse.status() === 200, `GET /logout answered ${confirmResponse.status()}`);
    await page.getByRole('heading', { name: 'Sign out?' }).waitFor();
    const main = await page.locator('main').innerText();
    assert(main.includes(CLIENT_NAME), `the page does not name "${CLIENT_NAME}":\n${main}`);
    assert(main.includes(USERNAME), 'the page does not say who is signed in');
    await shot(page, 'logout-confirm.png');
  });

  await check("the confirmation page's form-action allows 'self' and the post-logout origin only", async () => {
    assert(confirmResponse, 'no confirmation page response');
    const csp = (await confirmResponse.allHeaders())['content-security-policy'] || '';
    const formAction = csp.split(';').map((d) => d.trim()).find((d) => d.startsWith('form-action'));
    assert(
      formAction === `form-action 'self' ${new URL(POST_LOGOUT_URI).origin}`,
      `the confirmation page's form-action is "${formAction}"`,
    );
  });

  const out = asked && (await check("Sign out returns to the client's post-logout page with state", async () => {
    const before = redirects.length;
    await submit(page, page.getByRole('button', { name: 'Sign out' }));
    const back = await waitForRedirect(page, before + 1);
    assert(`${back.origin}${back.pathname}` === POST_LOGOUT_URI, `went to ${back.href}`);
    assert(back.searchParams.get('state') === logoutState, `state is ${back.searchParams.get('state')}`);
    await shot(page, 'logged-out.png');
  }));
  if (!asked) blocked('logout redirect', 'logout confirmation');

  if (out) {
    await check('after logout, /authorize asks to sign in again', async () => {
      const p = newPkce();
      const resp = await page.goto(authorizeUrl({ state: 'after-logout', nonce: 'n-after', challenge: p.challenge }));
      assert(resp.status() === 200, `GET /authorize answered ${resp.status()}`);
      await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    });
  } else {
    blocked('signed out', 'logout redirect');
  }

  await h.noProblems('logout');
}

h.runMain(main, {
  label: 'browser test',
  after: () => console.log(`screenshots: ${ARTIFACTS}`),
});
