#!/usr/bin/env node
// Browser test of the self-service pages (issue 16, docs/ACCOUNT.md):
// headless Chromium (Debian's package, driven by playwright-core) goes
// through what an end user does by themselves, reading the mail the server
// sends from the test SMTP server's directory:
//   1. forgot password: the sign-in page's "Forgot your password?", the
//      mail, its link, a new password; the new password signs in, the old
//      one is refused;
//   2. an application's access revoked on the account page: its refresh
//      token then gets invalid_grant;
//   3. sign-up, the verification mail, its "Verify" button, and the account
//      page showing the address verified.
// On every page: a screenshot at 1280x800 and at 375 px wide (no horizontal
// scrolling), no <script> but /static/passkey.js (the passkey button of the
// sign-in form), a CSP without 'unsafe-inline' scripts and with
// frame-ancestors 'none', a label for every field; and no console error, CSP
// violation or request to another host anywhere.
//
// Normally started by scripts/browser-test (after flow.js), which runs a
// server with PORTCULLIS_SMTP_URL (the test SMTP server) and
// PORTCULLIS_SIGNUP=open, and registers the client and the users.
// Settings (environment):
//   BROWSER_TEST_ISSUER         issuer URL of the running server (required)
//   BROWSER_TEST_CLIENT_ID      a confidential client (required)
//   BROWSER_TEST_CLIENT_SECRET  its secret (required)
//   BROWSER_TEST_CLIENT_NAME    its display name (default "Example App")
//   BROWSER_TEST_REDIRECT_URI   its redirect URI (default https://app.example/cb)
//   BROWSER_TEST_RESET_USERNAME / _EMAIL / _PASSWORD
//                               a user who forgets their password (required;
//                               an address of this run only)
//   BROWSER_TEST_APPS_USERNAME / _PASSWORD
//                               a user who revokes an application (required)
//   BROWSER_TEST_RUN            a word unique to this run (sign-up names)
//   BROWSER_TEST_SERVER_LOG     the server's log file (no link token,
//                               password or refresh token in it)
//   BROWSER_TEST_SMTP_DIR       where the test SMTP server writes each message
//                               as a .eml file (default
//                               /var/tmp/portcullis-test/smtp/mail)
//   BROWSER_TEST_MAIL_TIMEOUT_MS  how long to wait for a mail (default 20000)
//   BROWSER_TEST_ARTIFACTS      where screenshots go (default tests/artifacts)
//   BROWSER_TEST_CHROMIUM       the browser (default /usr/bin/chromium)
//
// Screenshots: <page>-desktop.png and <page>-375.png for each of the pages
// listed in PAGES below (the list is printed at the end).
//
// Exits 0 when every check passed; the last line is `N passed, M failed`.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./harness');

const { assert, check, blocked, newPkce, authorizeUrl, token, shot, submit, waitForRedirect } = h;
const { redirects, shots, expectLoggedStatus, DESKTOP, MOBILE } = h;

const S = h.configure(h.commonSettings());
const ISSUER = S.issuer;
const CLIENT_NAME = S.clientName;
const RESET_USER = {
  username: h.required('BROWSER_TEST_RESET_USERNAME'),
  email: h.required('BROWSER_TEST_RESET_EMAIL'),
  password: h.required('BROWSER_TEST_RESET_PASSWORD'),
};
const APPS_USER = {
  username: h.required('BROWSER_TEST_APPS_USERNAME'),
  password: h.required('BROWSER_TEST_APPS_PASSWORD'),
};
const RUN = process.env.BROWSER_TEST_RUN || crypto.randomBytes(6).toString('hex');
const SERVER_LOG = process.env.BROWSER_TEST_SERVER_LOG || '';
const SMTP_DIR = process.env.BROWSER_TEST_SMTP_DIR || '/var/tmp/portcullis-test/smtp/mail';
const MAIL_TIMEOUT_MS = Number(process.env.BROWSER_TEST_MAIL_TIMEOUT_MS || 20_000);
const ARTIFACTS = S.artifacts;
const ISSUER_ORIGIN = S.issuerOrigin;
// The one script a self-service page may load (the passkey button's).
const PASSKEY_SCRIPT = '/static/passkey.js';

// The pages' texts the checks look for (templates/*.html and the handlers
// in src/http/routes/{password,email,signup,account}.rs).
const TEXT = {
  wrongPassword: 'Incorrect username or password.',
  forgotLink: 'Forgot your password?',
  forgotHeading: 'Forgot your password?',
  forgotField: 'Username or e-mail address',
  forgotButton: 'Send the link',
  forgotSent: 'Check your mail',
  resetHeading: 'Choose a new password',
  resetField: 'New password',
  resetAgain: 'New password again',
  resetButton: 'Set the new password',
  resetDone: 'Your password was changed',
  verifyHeading: 'Verify your e-mail address',
  verifyButton: 'Verify',
  verifiedHeading: 'Your e-mail address is verified',
  signupHeading: 'Create an account',
  signupButton: 'Create account',
  signupDone: 'Check your mail',
  accountHeading: 'Your account',
  signIn: 'Sign in',
  appsRegion: 'Connected applications',
  sessionsRegion: 'Where you are signed in',
  revokeButton: 'Revoke access',
  revoked: "The application's access was revoked.",
  noApps: 'No application has access to your account.',
  thisSession: 'this session',
  activityRegion: 'Recent security activity',
  activityRevoked: 'Application access revoked',
};

// The pages this test photographs, in order: name → what it is.
const PAGES = [
  ['forgot-password', '"Forgot your password?" form (/password/forgot)'],
  ['forgot-password-sent', 'its confirmation, "Check your mail"'],
  ['reset-password', 'the reset link\'s form, "Choose a new password" (/password/reset)'],
  ['reset-password-done', '"Your password was changed"'],
  ['account-sign-in', 'the account page\'s sign-in form (/account)'],
  ['account', 'the account page, with two sessions and a connected application'],
  ['account-revoked', 'the account page after "Revoke access"'],
  ['signup', 'the sign-up form (/signup)'],
  ['signup-done', 'sign-up done, "Check your mail"'],
  ['verify-email', 'the verification link\'s page with its "Verify" button (/email/verify)'],
  ['email-verified', '"Your e-mail address is verified"'],
];
// The secrets this run typed or received (link tokens, passwords, refresh
// tokens): none may
// appear in the server's log.
const secrets = [];

// ------------------------------------------------------------ mail

// Decodes RFC 2047 encoded words (=?utf-8?B?...?= / =?utf-8?Q?...?=).
function decodeWords(s) {
  return s.replace(/=\?([^?]+)\?([bBqQ])\?([^?]*)\?=\s*(?==\?)?/g, (_, charset, enc, text) => {
    const bytes =
      enc.toUpperCase() === 'B'
        ? Buffer.from(text, 'base64')
        : Buffer.from(
            text
              .replace(/_/g, ' ')
              .replace(/=([0-9A-Fa-f]{2})/g, (m, h) => String.fromCharCode(parseInt(h, 16))),
            'latin1',
          );
    return bytes.toString(/^utf-?8$/i.test(charset) ? 'utf8' : 'latin1');
  });
}

// Splits a message (or a MIME part) into its headers and its raw body.
function splitPart(buf) {
  const s = buf.toString('latin1');
  const m = /\r?\n\r?\n/.exec(s);
  const head = m ? s.slice(0, m.index) : s;
  const body = m ? Buffer.from(s.slice(m.index + m[0].length), 'latin1') : Buffer.alloc(0);
  const headers = {};
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    const value = decodeWords(Buffer.from(line.slice(i + 1).trim(), 'latin1').toString('utf8'));
    if (!(name in headers)) headers[name] = value;
  }
  return { headers, body };
}

function decodeBody(headers, body) {
  const cte = (headers['content-transfer-encoding'] || '7bit').toLowerCase();
  let bytes = body;
  if (cte === 'quoted-printable') {
    const s = body
      .toString('latin1')
      .replace(/=\r?\n/g, '')
      .replace(/=([0-9A-Fa-f]{2})/g, (m, h) => String.fromCharCode(parseInt(h, 16)));
    bytes = Buffer.from(s, 'latin1');
  } else if (cte === 'base64') {
    bytes = Buffer.from(body.toString('latin1').replace(/\s+/g, ''), 'base64');
  }
  return bytes.toString('utf8');
}

// The text/plain body of a message: the part itself, or the first
// text/plain part of a multipart one.
function plainText(headers, body) {
  const ctype = headers['content-type'] || 'text/plain';
  const boundary = /boundary="?([^";]+)"?/i.exec(ctype);
  if (/^multipart\//i.test(ctype) && boundary) {
    const parts = body.toString('latin1').split(`--${boundary[1]}`).slice(1);
    for (const p of parts) {
      if (p.startsWith('--')) break;
      const part = splitPart(Buffer.from(p.replace(/^\r?\n/, ''), 'latin1'));
      const text = plainText(part.headers, part.body);
      if (text !== null) return text;
    }
    return null;
  }
  return /^text\/plain/i.test(ctype) ? decodeBody(headers, body) : null;
}

function parseEml(file) {
  const raw = fs.readFileSync(file);
  const { headers, body } = splitPart(raw);
  return {
    file,
    mtime: fs.statSync(file).mtimeMs,
    to: `${headers['x-envelope-to'] || ''}, ${headers.to || ''}`.toLowerCase(),
    subject: headers.subject || '',
    body: plainText(headers, body) || '',
  };
}

// The first URL in `text` on the issuer whose path is `pathname`.
function linkIn(text, pathname) {
  for (const m of text.matchAll(/https?:\/\/[^\s<>"']+/g)) {
    const candidate = m[0].replace(/[.,;:)>\]]+$/, '');
    try {
      const u = new URL(candidate);
      if (u.pathname === pathname) return u;
    } catch {
      // not a URL
    }
  }
  return null;
}

// Waits for the newest message to `address` that holds a link to
// `pathname` and arrived after `since` (ms); returns { mail, link }.
async function waitForMail(address, pathname, since) {
  const deadline = Date.now() + MAIL_TIMEOUT_MS;
  const want = address.toLowerCase();
  for (;;) {
    const found = [];
    if (fs.existsSync(SMTP_DIR)) {
      for (const name of fs.readdirSync(SMTP_DIR)) {
        if (!name.endsWith('.eml') || name.startsWith('.')) continue;
        const file = path.join(SMTP_DIR, name);
        let mail;
        try {
          mail = parseEml(file);
        } catch {
          continue; // removed meanwhile
        }
        if (mail.mtime < since - 2000 || !mail.to.includes(want)) continue;
        const link = linkIn(mail.body, pathname);
        if (link) found.push({ mail, link });
      }
    }
    if (found.length) {
      found.sort((a, b) => b.mail.mtime - a.mail.mtime || b.mail.file.localeCompare(a.mail.file));
      return found[0];
    }
    assert(
      Date.now() < deadline,
      `no mail to ${address} with a ${pathname} link in ${SMTP_DIR} after ${MAIL_TIMEOUT_MS} ms ` +
        '(is scripts/services/smtp.sh running, and the server started with PORTCULLIS_SMTP_URL?)',
    );
    await new Promise((r) => setTimeout(r, 250));
  }
}

// ------------------------------------------------------------ the browser

// The last document response of each page (the one a screenshot shows).
const documents = new WeakMap();

async function newPage(browser) {
  const context = await browser.newContext({ viewport: DESKTOP });
  context.setDefaultTimeout(30_000);
  const page = await context.newPage();
  page.on('response', (resp) => {
    const req = resp.request();
    const status = resp.status();
    if (req.isNavigationRequest() && req.frame() === page.mainFrame() && (status < 300 || status >= 400)) {
      documents.set(page, resp);
    }
  });
  return h.watchPage(page);
}

// The CSP directives of a header value: name → list of sources.
function cspDirectives(csp) {
  const out = {};
  for (const d of csp.split(';').map((x) => x.trim()).filter(Boolean)) {
    const [name, ...values] = d.split(/\s+/);
    out[name.toLowerCase()] = values;
  }
  return out;
}

// What every self-service page must be, checked on the page as it is now:
// the document's headers (CSP), no script, a label for every field; then a
// screenshot at desktop width and one at 375 px, without horizontal
// scrolling there.
async function inspect(page, name, { status = 200 } = {}) {
  const resp = documents.get(page);
  assert(resp, `no document response recorded for ${page.url()}`);
  assert(resp.status() === status, `${resp.url()} answered ${resp.status()}, expected ${status}`);
  const headers = await resp.allHeaders();
  const csp = headers['content-security-policy'] || '';
  const dirs = cspDirectives(csp);
  const scripts = dirs['script-src'] || dirs['default-src'];
  assert(scripts, `${page.url()}: the CSP "${csp}" has neither script-src nor default-src`);
  assert(!scripts.includes("'unsafe-inline'"), `${page.url()}: the CSP allows inline scripts: "${csp}"`);
  assert(
    (dirs['frame-ancestors'] || []).join(' ') === "'none'",
    `${page.url()}: the CSP does not say frame-ancestors 'none': "${csp}"`,
  );
  assert(/no-store/.test(headers['cache-control'] || ''), `${page.url()}: Cache-Control is "${headers['cache-control']}"`);
  // No inline script; at most the passkey button's own script file
  // (issue 17: the sign-in forms offer "Sign in with a passkey").
  const scriptSrcs = await page
    .locator('script')
    .evaluateAll((els) => els.map((e) => (e.getAttribute('src') === null ? 'inline' : e.getAttribute('src'))));
  const allowed = scriptSrcs.filter((src) => src !== PASSKEY_SCRIPT);
  assert(allowed.length === 0, `${page.url()} has <script> element(s) ${JSON.stringify(allowed)}`);
  const unlabelled = await page.evaluate(() => {
    const bad = [];
    const fields = [...document.querySelectorAll('input, select, textarea')].filter(
      (el) => el.type !== 'hidden' && !el.hidden,
    );
    for (const el of fields) {
      if (!el.id) {
        bad.push(`field "${el.name}" has no id (so no label[for])`);
        continue;
      }
      const labels = [...document.querySelectorAll('label[for]')].filter((l) => l.htmlFor === el.id);
      if (labels.length !== 1 || !labels[0].textContent.trim()) {
        bad.push(`field #${el.id} has ${labels.length} label(s)`);
      }
      if (document.querySelectorAll(`[id="${el.id}"]`).length !== 1) bad.push(`id ${el.id} is not unique`);
    }
    for (const l of document.querySelectorAll('label[for]')) {
      const t = document.getElementById(l.htmlFor);
      if (!t || !['INPUT', 'SELECT', 'TEXTAREA'].includes(t.tagName)) {
        bad.push(`label "${l.textContent.trim()}" is for "${l.htmlFor}", which is no field`);
      }
    }
    for (const b of document.querySelectorAll('button')) {
      if (!b.textContent.trim() && !b.getAttribute('aria-label')) bad.push('a button has no name');
    }
    return bad;
  });
  assert(unlabelled.length === 0, `${page.url()}: ${unlabelled.join('; ')}`);
  await shot(page, `${name}-desktop.png`);
  await page.setViewportSize(MOBILE);
  const widths = await page.evaluate(() => ({
    doc: document.documentElement.scrollWidth,
    win: window.innerWidth,
  }));
  await shot(page, `${name}-375.png`);
  await page.setViewportSize(DESKTOP);
  assert(widths.doc <= widths.win, `${name}: ${widths.doc} px wide in a ${widths.win} px window`);
}

// Keyboard: from the heading, Tab reaches every field and every button of
// the page's main forms, in document order.
async function tabReachesForm(page) {
  const count = await page.evaluate(() => {
    const els = [...document.querySelectorAll('main input, main button, main select, main textarea')].filter(
      (el) => el.type !== 'hidden' && !el.hidden,
    );
    els.forEach((el, i) => el.setAttribute('data-kbd', String(i)));
    return els.length;
  });
  assert(count > 0, 'no field or button to reach');
  await page.locator('h1').first().click();
  const seen = [];
  for (let i = 0; i < count * 2 + 10 && seen.length < count; i += 1) {
    await page.keyboard.press('Tab');
    const k = await page.evaluate(() => document.activeElement && document.activeElement.getAttribute('data-kbd'));
    if (k !== null && !seen.includes(Number(k))) seen.push(Number(k));
  }
  const inOrder = seen.every((k, i) => k === i);
  assert(seen.length === count && inOrder, `Tab reached controls ${seen.join(',')} of 0..${count - 1}`);
}

async function heading(page, text) {
  await page.getByRole('heading', { name: text, exact: true, level: 1 }).waitFor();
}

// Signs in on the /authorize sign-in page (already open).
async function signInAuthorize(page, username, password) {
  await page.getByLabel('Username', { exact: true }).fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await submit(page, page.getByRole('button', { name: TEXT.signIn, exact: true }));
}

// Signs in on the account page's sign-in form (already open).
async function signInAccount(page, username, password) {
  await heading(page, TEXT.accountHeading);
  await page.getByLabel('Username', { exact: true }).fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await submit(page, page.getByRole('button', { name: TEXT.signIn, exact: true }));
  await page.getByRole('heading', { name: 'Profile', level: 2 }).waitFor();
}

function consentHeading() {
  return `${CLIENT_NAME} wants to access your account`;
}

// ------------------------------------------------------------ the checks

async function main() {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const browser = await h.launch();
  secrets.push(["the reset user's first password", RESET_USER.password]);
  secrets.push(["the apps user's password", APPS_USER.password]);
  try {
    await forgotPassword(browser);
    await revokeApp(browser);
    await signUpAndVerify(browser);
    await check('no link token, password or refresh token in the server log', async () => {
      assert(SERVER_LOG, 'BROWSER_TEST_SERVER_LOG is not set');
      const log = fs.readFileSync(SERVER_LOG);
      assert(secrets.length >= 4, `only ${secrets.length} secrets were collected`);
      for (const [what, value] of secrets) {
        assert(value.length >= 8, `${what} is missing`);
        assert(!log.includes(Buffer.from(value)), `${what} appears in the server log`);
      }
    });
  } finally {
    await browser.close().catch(() => {});
  }
}

// 1. A user who forgot their password.
async function forgotPassword(browser) {
  const page = await newPage(browser);
  const user = RESET_USER;
  const newPassword = `quiet lantern ${RUN} orchard`;
  secrets.push(['the new password', newPassword]);
  let sentText;
  let since;

  const formShown = await check('the sign-in page links to "Forgot your password?", a labelled form', async () => {
    await page.goto(authorizeUrl({ state: 'st-forgot', challenge: newPkce().challenge }));
    await heading(page, 'Sign in');
    await submit(page, page.getByRole('link', { name: TEXT.forgotLink }));
    assert(new URL(page.url()).pathname === '/password/forgot', `the link went to ${page.url()}`);
    await heading(page, TEXT.forgotHeading);
    await inspect(page, 'forgot-password');
    await tabReachesForm(page);
  });

  await check('forgot password: an empty form gets an error tied to the field (400)', async () => {
    if (!formShown) await page.goto(`${ISSUER}/password/forgot`);
    await page.getByLabel(TEXT.forgotField).fill('');
    await submit(page, page.getByRole('button', { name: TEXT.forgotButton }));
    expectLoggedStatus(400);
    const alert = h.alerts(page);
    await alert.waitFor();
    const id = await alert.getAttribute('id');
    const described = await page.getByLabel(TEXT.forgotField).getAttribute('aria-describedby');
    assert(id && (described || '').split(' ').includes(id), `the field is not described by the error #${id}`);
    assert(documents.get(page).status() === 400, `answered ${documents.get(page).status()}`);
  });

  const sent = await check('forgot password: the address gets "Check your mail"', async () => {
    await page.goto(`${ISSUER}/password/forgot`);
    since = Date.now();
    await page.getByLabel(TEXT.forgotField).fill(user.email);
    await submit(page, page.getByRole('button', { name: TEXT.forgotButton }));
    await heading(page, TEXT.forgotSent);
    sentText = await page.locator('main').innerText();
    await inspect(page, 'forgot-password-sent');
  });

  await check('forgot password: an unknown address gets the very same page', async () => {
    assert(sentText, 'no confirmation page to compare with');
    await page.goto(`${ISSUER}/password/forgot`);
    await page.getByLabel(TEXT.forgotField).fill(`nobody-${RUN}@example.test`);
    await submit(page, page.getByRole('button', { name: TEXT.forgotButton }));
    assert(documents.get(page).status() === 200, `answered ${documents.get(page).status()}`);
    const text = await page.locator('main').innerText();
    assert(text === sentText, `the pages differ:\n${text}\n---\n${sentText}`);
  });

  let link;
  const mailed = sent && (await check('forgot password: the mail arrives with a reset link to this server', async () => {
    const got = await waitForMail(user.email, '/password/reset', since);
    link = got.link;
    secrets.push(['the reset link token', link.searchParams.get('token') || '']);
    assert(link.origin === ISSUER_ORIGIN, `the link points to ${link.origin}, not ${ISSUER_ORIGIN}`);
    assert((link.searchParams.get('token') || '').length >= 32, `no token in ${link.href}`);
    console.log(`     mail ${got.mail.file} ("${got.mail.subject}")`);
  }));
  if (!sent) blocked('reset mail', 'forgot password');

  const reset = mailed && (await check('the link opens "Choose a new password"; a new password is set', async () => {
    await page.goto(link.href);
    await heading(page, TEXT.resetHeading);
    const main = await page.locator('main').innerText();
    assert(main.includes(user.username), 'the page does not say whose password');
    await inspect(page, 'reset-password');
    await tabReachesForm(page);
    await page.getByLabel(TEXT.resetField, { exact: true }).fill(newPassword);
    await page.getByLabel(TEXT.resetAgain, { exact: true }).fill(newPassword);
    await submit(page, page.getByRole('button', { name: TEXT.resetButton }));
    await heading(page, TEXT.resetDone);
    await inspect(page, 'reset-password-done');
  }));
  if (!mailed) blocked('reset form', 'reset mail');

  if (reset) {
    await check('the reset link works once', async () => {
      await page.goto(link.href);
      expectLoggedStatus(400);
      assert(documents.get(page).status() === 400, `a used link answered ${documents.get(page).status()}`);
      assert(await h.alerts(page).isVisible(), 'the refusal is not announced (role=alert)');
    });

    await check('after the reset the old password is refused and the new one signs in', async () => {
      const pkce = newPkce();
      const state = `st-reset-${RUN}`;
      await page.goto(authorizeUrl({ state, challenge: pkce.challenge }));
      await heading(page, 'Sign in');
      await signInAuthorize(page, user.username, user.password);
      const text = (await h.alerts(page).innerText()).trim();
      assert(text === TEXT.wrongPassword, `the old password got "${text}"`);
      await signInAuthorize(page, user.username, newPassword);
      await page.getByRole('heading', { name: consentHeading() }).waitFor();
      const before = redirects.length;
      await submit(page, page.getByRole('button', { name: 'Allow' }));
      const back = await waitForRedirect(page, before + 1);
      assert(back.searchParams.get('state') === state && back.searchParams.get('code'), `went to ${back.href}`);
    });
  } else {
    blocked('old password refused, new one signs in', 'reset form');
  }

  await h.noProblems('password reset');
  await page.context().close();
}

// 2. A user revokes an application on the account page.
async function revokeApp(browser) {
  const user = APPS_USER;
  const app = await newPage(browser);
  let refresh;

  const granted = await check('an authorization (openid offline_access, prompt=consent) yields a refresh token', async () => {
    const pkce = newPkce();
    const state = `st-apps-${RUN}`;
    await app.goto(
      authorizeUrl({ scope: 'openid offline_access', state, challenge: pkce.challenge, extra: { prompt: 'consent' } }),
    );
    await heading(app, 'Sign in');
    await signInAuthorize(app, user.username, user.password);
    await app.getByRole('heading', { name: consentHeading() }).waitFor();
    const before = redirects.length;
    await submit(app, app.getByRole('button', { name: 'Allow' }));
    const back = await waitForRedirect(app, before + 1);
    assert(back.searchParams.get('state') === state, `went to ${back.href}`);
    const code = back.searchParams.get('code');
    assert(code, `no code in ${back.href}`);
    const { status, body } = await token({
      grant_type: 'authorization_code',
      code,
      redirect_uri: S.redirectUri,
      code_verifier: pkce.verifier,
    });
    assert(status === 200, `the code redemption answered ${status}: ${JSON.stringify(body)}`);
    assert(body.refresh_token, `no refresh token: ${Object.keys(body)}`);
    refresh = body.refresh_token;
    secrets.push(['the refresh token', refresh]);
  });

  const refreshed = granted && (await check('the refresh token works before the revocation', async () => {
    const { status, body } = await token({ grant_type: 'refresh_token', refresh_token: refresh });
    assert(status === 200, `the refresh answered ${status}: ${JSON.stringify(body)}`);
    assert(body.access_token, 'no access token');
    if (body.refresh_token) refresh = body.refresh_token; // rotated
    secrets.push(['the rotated refresh token', refresh]);
  }));
  if (!granted) blocked('refresh before revocation', 'authorization');

  // The account page in another browser (a second session of the user).
  const page = await newPage(browser);
  const signedIn = await check('the account page asks to sign in, then shows the account', async () => {
    await page.goto(`${ISSUER}/account`);
    await heading(page, TEXT.accountHeading);
    assert(await page.getByLabel('Password', { exact: true }).isVisible(), 'no sign-in form');
    await inspect(page, 'account-sign-in');
    await tabReachesForm(page);
    await signInAccount(page, user.username, user.password);
    const main = await page.locator('main').innerText();
    assert(main.includes(user.username), 'the page does not say who is signed in');
  });

  const listed = signedIn && (await check('the account page lists both sessions and the connected application', async () => {
    const sessions = page.getByRole('region', { name: TEXT.sessionsRegion });
    const sessionItems = sessions.locator(':scope > ul > li');
    const n = await sessionItems.count();
    assert(n >= 2, `${n} session(s) listed, expected this one and the /authorize one`);
    const current = await sessionItems
      .filter({ has: page.getByText(TEXT.thisSession, { exact: true }) })
      .count();
    assert(current === 1, `${current} session(s) marked "${TEXT.thisSession}"`);
    const apps = page.getByRole('region', { name: TEXT.appsRegion });
    const item = apps.locator(':scope > ul > li').filter({ hasText: CLIENT_NAME });
    assert((await item.count()) === 1, `"${CLIENT_NAME}" is not listed once under ${TEXT.appsRegion}`);
    assert(
      await item.getByRole('button', { name: TEXT.revokeButton }).isVisible(),
      `no "${TEXT.revokeButton}" button for ${CLIENT_NAME}`,
    );
    await inspect(page, 'account');
  }));
  if (!signedIn) blocked('account page lists', 'account sign-in');

  const revoked = listed && (await check('"Revoke access" confirms and the application is gone', async () => {
    const apps = page.getByRole('region', { name: TEXT.appsRegion });
    const item = apps.locator(':scope > ul > li').filter({ hasText: CLIENT_NAME });
    await submit(page, item.getByRole('button', { name: TEXT.revokeButton }));
    const status = page.getByRole('status').filter({ hasText: TEXT.revoked });
    await status.waitFor();
    const appsNow = await page.getByRole('region', { name: TEXT.appsRegion }).innerText();
    assert(!appsNow.includes(CLIENT_NAME), `${CLIENT_NAME} is still listed:\n${appsNow}`);
    assert(appsNow.includes(TEXT.noApps), `no "${TEXT.noApps}"`);
    await inspect(page, 'account-revoked');
  }));
  if (!listed) blocked('revoke', 'account page lists');

  if (revoked) {
    await check('the revocation shows in the recent security activity (events flush within seconds)', async () => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const text = await page.getByRole('region', { name: TEXT.activityRegion }).innerText();
        if (text.includes(TEXT.activityRevoked)) break;
        assert(Date.now() < deadline, `no "${TEXT.activityRevoked}" after 10 s:\n${text}`);
        await page.waitForTimeout(500);
        await page.goto(`${ISSUER}/account`);
      }
    });
  } else {
    blocked('activity shows the revocation', 'revoke');
  }

  if (revoked && refreshed) {
    await check('after the revocation the refresh token gets 400 invalid_grant', async () => {
      const { status, body } = await token({ grant_type: 'refresh_token', refresh_token: refresh });
      assert(status === 400, `the refresh answered ${status}: ${JSON.stringify(body)}`);
      assert(body.error === 'invalid_grant', `error is ${body.error}`);
    });
  } else {
    blocked('refresh after revocation', revoked ? 'refresh before revocation' : 'revoke');
  }

  await h.noProblems('account');
  await app.context().close();
  await page.context().close();
}

// 3. Sign-up and e-mail verification.
async function signUpAndVerify(browser) {
  const page = await newPage(browser);
  const username = `new-${RUN}`;
  const email = `signup-${RUN}@example.test`;
  const password = `velvet harbour ${RUN} tangerine`;
  secrets.push(['the sign-up password', password]);
  let since;

  const shown = await check('/signup shows a labelled sign-up form', async () => {
    await page.goto(`${ISSUER}/signup`);
    await heading(page, TEXT.signupHeading);
    await inspect(page, 'signup');
    await tabReachesForm(page);
  });

  const done = shown && (await check('signing up answers "Check your mail"', async () => {
    await page.getByLabel('Username', { exact: true }).fill(username);
    await page.getByLabel('E-mail address', { exact: true }).fill(email);
    await page.getByLabel('Name (optional)', { exact: true }).fill('Nova Example');
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByLabel('Password again', { exact: true }).fill(password);
    since = Date.now();
    await submit(page, page.getByRole('button', { name: TEXT.signupButton }));
    await heading(page, TEXT.signupDone);
    const main = await page.locator('main').innerText();
    assert(main.includes(email), 'the page does not name the address');
    await inspect(page, 'signup-done');
  }));
  if (!shown) blocked('sign-up', 'sign-up form');

  if (done) {
    await check('the new account signs in on /account; its address is not verified yet', async () => {
      await page.goto(`${ISSUER}/account`);
      await signInAccount(page, username, password);
      const state = await page.locator('#email-state').innerText();
      assert(state.includes(email) && /not verified/.test(state), `the address reads "${state}"`);
    });
  } else {
    blocked('unverified address', 'sign-up');
  }

  let link;
  const mailed = done && (await check('the verification mail arrives with a link to this server', async () => {
    const got = await waitForMail(email, '/email/verify', since);
    link = got.link;
    secrets.push(['the verification link token', link.searchParams.get('token') || '']);
    assert(link.origin === ISSUER_ORIGIN, `the link points to ${link.origin}`);
    console.log(`     mail ${got.mail.file} ("${got.mail.subject}")`);
  }));
  if (!done) blocked('verification mail', 'sign-up');

  const verified = mailed && (await check('the link\'s page names the address; its button verifies it', async () => {
    await page.goto(link.href);
    await heading(page, TEXT.verifyHeading);
    const main = await page.locator('main').innerText();
    assert(main.includes(email), 'the page does not name the address');
    await inspect(page, 'verify-email');
    await submit(page, page.getByRole('button', { name: TEXT.verifyButton, exact: true }));
    await heading(page, TEXT.verifiedHeading);
    await inspect(page, 'email-verified');
  }));
  if (!mailed) blocked('verify', 'verification mail');

  if (verified) {
    await check('the account page then shows the address as verified', async () => {
      await page.goto(`${ISSUER}/account`);
      if ((await page.getByRole('heading', { name: 'Profile', level: 2 }).count()) === 0) {
        await signInAccount(page, username, password); // the session ended meanwhile
      }
      const state = await page.locator('#email-state').innerText();
      assert(state.includes(email), `the address reads "${state}"`);
      assert(/verified/.test(state) && !/not verified/.test(state), `the address reads "${state}"`);
      await page.locator('#email-state .verified').waitFor();
    });
  } else {
    blocked('account shows verified', 'verify');
  }
  await h.noProblems('sign-up');
  await page.context().close();
}

h.runMain(main, {
  label: 'self-service browser test',
  after: () => {
    console.log(`screenshots (${ARTIFACTS}):`);
    for (const [name, what] of PAGES) {
      const files = [`${name}-desktop.png`, `${name}-375.png`].filter((f) => shots.includes(f));
      console.log(`  ${name}: ${files.length ? files.join(', ') : '(not taken)'} — ${what}`);
    }
  },
});
