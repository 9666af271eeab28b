#!/usr/bin/env node
// Browser test of multi-factor sign-in (issue 17, docs/MFA.md): headless
// Chromium (Debian's package, driven by playwright-core) with a virtual
// authenticator (the DevTools protocol's WebAuthn domain) and an
// authenticator app computed here (the `otpauth` package):
//   1. passkeys: a user signs in on the account page with their password,
//      registers a named passkey on /account/security (listed there); signs
//      in at /authorize with the passkey alone ("Sign in with a passkey":
//      amr hwk|swk, user, mfa; acr phr); then with the password and the
//      passkey as the second factor (amr pwd, hwk|swk, mfa); and on the
//      account page with the passkey alone;
//   2. TOTP: another user enrols an authenticator app on /account/security
//      (a QR code as inline SVG and the key in text), confirms it with a code
//      computed from that key, gets ten recovery codes; signs in at
//      /authorize with password + code (a wrong code first: an error, same
//      page): amr pwd, otp, mfa, acr urn:portcullis:acr:2fa; then with a
//      recovery code instead, which then works no more; and on the account
//      page with password + code.
// Every ID token's signature is verified against the server's JWKS with an
// independent JOSE library (`jose`). WebAuthn needs a secure context and an
// RP ID that is a domain: the server must be reached as http://localhost.
//
// Normally started by scripts/browser-test, which runs the server with
// PORTCULLIS_ISSUER=http://localhost:PORT and registers the client and the
// users. Settings (environment):
//   BROWSER_TEST_ISSUER         issuer URL of the running server (required;
//                               its host must be a name, e.g. localhost)
//   BROWSER_TEST_CLIENT_ID      a confidential client (required)
//   BROWSER_TEST_CLIENT_SECRET  its secret (required: the codes are redeemed)
//   BROWSER_TEST_CLIENT_NAME    its display name (default "Example App")
//   BROWSER_TEST_REDIRECT_URI   its redirect URI (default https://app.example/cb)
//   BROWSER_TEST_PASSKEY_USERNAME / _PASSWORD  a user without factors who
//                               registers a passkey (required)
//   BROWSER_TEST_TOTP_USERNAME / _PASSWORD     a user without factors who
//                               enrols TOTP (required)
//   BROWSER_TEST_SERVER_LOG     the server's log file (no TOTP key, code or
//                               recovery code in it)
//   BROWSER_TEST_ARTIFACTS      where screenshots go (default tests/artifacts)
//   BROWSER_TEST_CHROMIUM       the browser (default /usr/bin/chromium)
//
// Exits 0 when every check passed; the last line is `N passed, M failed`.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const h = require('./harness');

const { assert, check, blocked, submit, shot } = h;

const S = h.configure(h.commonSettings());
const ISSUER = S.issuer;
const PASSKEY_USER = {
  username: h.required('BROWSER_TEST_PASSKEY_USERNAME'),
  password: h.required('BROWSER_TEST_PASSKEY_PASSWORD'),
};
const TOTP_USER = {
  username: h.required('BROWSER_TEST_TOTP_USERNAME'),
  password: h.required('BROWSER_TEST_TOTP_PASSWORD'),
};
const SERVER_LOG = process.env.BROWSER_TEST_SERVER_LOG || '';

// The contract's paths and names (COMMON.md of issue 17; src/protocol/endpoints.rs).
const PATH = {
  account: '/account',
  security: '/account/security',
  totp: '/account/totp',
  totpConfirm: '/account/totp/confirm',
  recoveryCodes: '/account/recovery-codes',
  passkeyOptions: '/account/passkeys/options',
  passkeyRemove: '/account/passkeys/remove',
  loginFactor: '/login/factor',
  loginPasskeyOptions: '/login/passkey/options',
};
const TEXT = {
  passkeyButton: 'Sign in with a passkey',
  passkeyName: 'Passkey name',
  signIn: 'Sign in',
  signOut: 'Sign out',
  accountHeading: 'Your account',
};
const ACR = {
  oneFactor: 'urn:portcullis:acr:1fa',
  twoFactor: 'urn:portcullis:acr:2fa',
  phishingResistant: 'phr',
};
const PASSKEY_NAME = `Test key ${crypto.randomBytes(3).toString('hex')}`;
// A recovery code as shown: xxxx-xxxx-xxxx, RFC 4648 base32 lowercased.
const RECOVERY_RE = /\b[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}\b/g;

// The secrets this run saw (TOTP key, codes, recovery codes): none may
// appear in the server's log.
const secrets = [];

// ------------------------------------------------------------ libraries

// jose and otpauth are ES modules; import() loads them from CommonJS.
let JOSE;
let OTPAUTH;
async function libs() {
  JOSE = JOSE || (await import('jose'));
  if (!OTPAUTH) {
    const m = await import('otpauth');
    OTPAUTH = m.TOTP ? m : m.default;
  }
}

let jwks;
let discovery;
async function getDiscovery() {
  if (!discovery) {
    const resp = await fetch(`${ISSUER}/.well-known/openid-configuration`);
    assert(resp.status === 200, `discovery answered ${resp.status}`);
    discovery = await resp.json();
  }
  return discovery;
}

// Verifies a JWT's signature against the server's JWKS (jose), its issuer
// and (given) audience; the payload.
async function verifyJwt(jwt, audience) {
  await libs();
  if (!jwks) jwks = JOSE.createRemoteJWKSet(new URL((await getDiscovery()).jwks_uri));
  const opts = { issuer: ISSUER };
  if (audience) opts.audience = audience;
  try {
    const { payload } = await JOSE.jwtVerify(jwt, jwks, opts);
    return payload;
  } catch (err) {
    throw new h.CheckFailed(`the JWT does not verify against ${discovery.jwks_uri}: ${err.code || ''} ${err.message}`);
  }
}

// RFC 6238 with every authenticator app's parameters (SHA-1, 6 digits, 30 s).
function totpFor(key) {
  return new OTPAUTH.TOTP({
    secret: OTPAUTH.Secret.fromBase32(key),
    algorithm: 'SHA1',
    digits: 6,
    period: 30,
  });
}

function stepNow() {
  return Math.floor(Date.now() / 30_000);
}

// The code for the current step, after waiting for a step later than
// `lastUsed` (the server accepts each step once).
async function freshCode(totp, lastUsed) {
  while (stepNow() <= lastUsed) {
    const wait = (lastUsed + 1) * 30_000 - Date.now() + 300;
    console.log(`     waiting ${Math.ceil(wait / 1000)} s for the next TOTP step`);
    await new Promise((r) => setTimeout(r, wait));
  }
  const step = stepNow();
  const code = totp.generate({ timestamp: step * 30_000 + 1 });
  secrets.push(['a TOTP code', code]);
  return { code, step };
}

// A six-digit code no step of the accepted window (±1) has.
function wrongCode(totp) {
  const now = Date.now();
  const near = new Set([-2, -1, 0, 1, 2].map((d) => totp.generate({ timestamp: now + d * 30_000 })));
  for (;;) {
    const c = String(crypto.randomInt(0, 1_000_000)).padStart(6, '0');
    if (!near.has(c)) return c;
  }
}

// ------------------------------------------------------------ pages

async function newPage(browser) {
  const context = await browser.newContext({ viewport: h.DESKTOP });
  context.setDefaultTimeout(30_000);
  const page = await context.newPage();
  await h.watchPage(page);
  return page;
}

// A virtual authenticator for `page` (DevTools protocol, WebAuthn domain):
// a platform authenticator with resident keys and user verification, as a
// phone's or a laptop's.
async function addAuthenticator(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return {
    async credentials() {
      return (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
    },
  };
}

async function heading(page, text, level = 1) {
  await page.getByRole('heading', { name: text, exact: true, level }).waitFor();
}

// Signs in on the account page's sign-in form (/account).
async function signInAccount(page, user) {
  await page.goto(`${ISSUER}${PATH.account}`);
  await heading(page, TEXT.accountHeading);
  await page.getByLabel('Username', { exact: true }).fill(user.username);
  await page.getByLabel('Password', { exact: true }).fill(user.password);
  await submit(page, page.getByRole('button', { name: TEXT.signIn, exact: true }));
  await page.getByRole('heading', { name: 'Profile', level: 2 }).waitFor();
}

// Signs out with the account page's "Sign out" button; the account page
// then asks to sign in.
async function signOut(page) {
  await page.goto(`${ISSUER}${PATH.account}`);
  const button = page.getByRole('button', { name: TEXT.signOut, exact: true });
  if (await button.count()) await submit(page, button.first());
  await page.goto(`${ISSUER}${PATH.account}`);
  assert(
    await page.getByLabel('Password', { exact: true }).isVisible(),
    'the account page does not ask to sign in after "Sign out"',
  );
}

// Opens the security page (signed in).
async function openSecurity(page, query = '') {
  const resp = await page.goto(`${ISSUER}${PATH.security}${query}`);
  assert(resp.status() === 200, `GET ${PATH.security} answered ${resp.status()}`);
  assert(new URL(page.url()).pathname === PATH.security, `GET ${PATH.security} ended at ${page.url()}`);
}

// The submit button of the form that holds `locator`.
function formButton(locator) {
  return locator.locator('xpath=ancestor::form[1]').locator('button[type=submit], button:not([type])').first();
}

// Clicks a passkey button (data-passkey): the page's script fetches the
// options, asks the authenticator and submits its form. Waits for that
// navigation; a message in the form's [data-passkey-error] is a failure.
async function clickPasskey(page, button) {
  let navigated = false;
  const onNav = (f) => {
    if (f === page.mainFrame()) navigated = true;
  };
  page.on('framenavigated', onNav);
  try {
    await button.click();
    const deadline = Date.now() + 30_000;
    while (!navigated) {
      const msg = await page
        .locator('[data-passkey-error]')
        .evaluateAll((els) => els.map((e) => e.textContent.trim()).filter(Boolean).join(' | '))
        .catch(() => '');
      assert(!msg, `the passkey script showed "${msg}" and submitted nothing (page ${page.url()})`);
      const seen = h.problems.length ? `; problems:\n  ${h.problems.join('\n  ')}` : '';
      assert(Date.now() < deadline, `the passkey button led nowhere in 30 s (page ${page.url()})${seen}`);
      await page.waitForTimeout(100);
    }
  } finally {
    page.off('framenavigated', onNav);
  }
  await page.waitForLoadState('load');
}

// After the sign-in: the consent page (Allow) or straight the redirect URI;
// the code from the redirect, checked against `state`.
async function finishAuthorization(page, before, state) {
  const consent = page.getByRole('heading', { name: `${S.clientName} wants to access your account` });
  const deadline = Date.now() + 30_000;
  while (h.redirects.length <= before) {
    if (await consent.count().catch(() => 0)) {
      await submit(page, page.getByRole('button', { name: 'Allow' }));
      break;
    }
    if (Date.now() > deadline) {
      const here = await page.evaluate(() => (document.body ? document.body.innerText : '')).catch(() => '');
      const seen = h.problems.length ? `\nproblems:\n  ${h.problems.join('\n  ')}` : '';
      assert(false, `neither consent nor the redirect URI in 30 s; on ${page.url()}:\n${here.slice(0, 500)}${seen}`);
    }
    await page.waitForTimeout(100);
  }
  const back = await h.waitForRedirect(page, before + 1);
  assert(`${back.origin}${back.pathname}` === S.redirectUri, `went to ${back.href}`);
  assert(!back.searchParams.has('error'), `error ${back.searchParams.get('error')}: ${back.searchParams.get('error_description')}`);
  assert(back.searchParams.get('state') === state, `state ${back.searchParams.get('state')}, sent ${state}`);
  const code = back.searchParams.get('code');
  assert(code, `no code in ${back.href}`);
  return code;
}

// Starts an authorization request in `page`: { state, nonce, pkce, before }.
async function startAuthorization(page, label) {
  const req = {
    state: `st-${label}-${h.b64url(crypto.randomBytes(6))}`,
    nonce: `n-${label}-${h.b64url(crypto.randomBytes(6))}`,
    pkce: h.newPkce(),
    before: h.redirects.length,
  };
  const resp = await page.goto(h.authorizeUrl({ state: req.state, nonce: req.nonce, challenge: req.pkce.challenge }));
  assert(resp.status() === 200, `GET /authorize answered ${resp.status()}`);
  await heading(page, TEXT.signIn);
  return req;
}

// Password on the /authorize sign-in page (open).
async function enterPassword(page, user) {
  await page.getByLabel('Username', { exact: true }).fill(user.username);
  await page.getByLabel('Password', { exact: true }).fill(user.password);
  await submit(page, page.getByRole('button', { name: TEXT.signIn, exact: true }));
}

// Is this the second-factor page? (Its passkey form says mode
// second_factor; its code form posts to /login/factor.)
async function onFactorPage(page) {
  const modes = await page.locator('#passkey-form input[name=mode]').evaluateAll((els) => els.map((e) => e.value));
  const codeForms = await page.locator(`form[action="${PATH.loginFactor}"]`).count();
  return modes.includes('second_factor') || codeForms > 0;
}

// The second-factor page's field for a TOTP code, and for a recovery code
// (the same one when the page has a single field).
async function factorField(page, kind) {
  const fields = page.locator(`form[action="${PATH.loginFactor}"] input:not([type=hidden])`);
  const n = await fields.count();
  assert(n > 0, `the second-factor page has no field in a form posting to ${PATH.loginFactor}`);
  const described = [];
  for (let i = 0; i < n; i += 1) {
    const f = fields.nth(i);
    const id = await f.getAttribute('id');
    const label = id ? await page.locator(`label[for="${id}"]`).innerText().catch(() => '') : '';
    const words = `${await f.getAttribute('name')} ${id} ${label}`;
    described.push({ f, recovery: /recover/i.test(words), words });
  }
  const want = described.filter((d) => d.recovery === (kind === 'recovery'));
  const pick = (want.length ? want : described)[0];
  if (!(await pick.f.isVisible())) {
    // e.g. a recovery form inside <details>: open it.
    const summary = page.locator('summary').filter({ hasText: /recover/i });
    if (await summary.count()) await summary.first().click();
  }
  assert(await pick.f.isVisible(), `the ${kind} field (${pick.words}) is not visible`);
  return pick.f;
}

// Redeems `code`; verifies the ID token (and a JWT access token) with jose.
async function redeem(code, req) {
  const { status, body } = await h.token({
    grant_type: 'authorization_code',
    code,
    redirect_uri: S.redirectUri,
    code_verifier: req.pkce.verifier,
  });
  assert(status === 200, `the token endpoint answered ${status}: ${JSON.stringify(body)}`);
  assert(body.id_token, `no ID token: ${Object.keys(body)}`);
  const claims = await verifyJwt(body.id_token, S.clientId);
  assert(claims.nonce === req.nonce, `ID token nonce ${claims.nonce}, sent ${req.nonce}`);
  // The payload decoded by hand is the one jose verified.
  const raw = JSON.parse(Buffer.from(body.id_token.split('.')[1], 'base64url').toString('utf8'));
  assert(JSON.stringify(raw.amr) === JSON.stringify(claims.amr), 'the decoded amr differs from the verified one');
  let access = null;
  if (typeof body.access_token === 'string' && body.access_token.split('.').length === 3) {
    access = await verifyJwt(body.access_token, null);
  }
  console.log(`     id_token amr ${JSON.stringify(claims.amr)} acr ${JSON.stringify(claims.acr)}`);
  return { claims, access };
}

function sameSet(a, b) {
  return Array.isArray(a) && a.length === b.length && b.every((x) => a.includes(x));
}

// The access token (when a JWT) carries the ID token's acr and auth_time.
function accessMatches(tokens) {
  if (!tokens.access) return;
  assert(tokens.access.acr === tokens.claims.acr, `access token acr ${tokens.access.acr}, ID token ${tokens.claims.acr}`);
  assert(typeof tokens.access.auth_time === 'number', `access token auth_time ${tokens.access.auth_time}`);
}

// ------------------------------------------------------------ the checks

async function main() {
  fs.mkdirSync(S.artifacts, { recursive: true });
  await libs();
  const host = new URL(ISSUER).hostname;
  await check('the issuer is a host name in a secure context (WebAuthn refuses IP addresses)', async () => {
    assert(!/^[0-9.]+$|^\[/.test(host), `the issuer ${ISSUER} has an IP address; run the server as http://localhost:PORT`);
  });
  await check('discovery lists the three acr values', async () => {
    const d = await getDiscovery();
    const got = d.acr_values_supported;
    assert(sameSet(got, Object.values(ACR)), `acr_values_supported is ${JSON.stringify(got)}`);
  });
  const browser = await h.launch();
  try {
    await passkeys(browser);
    await totp(browser);
    await check('no TOTP key, code or recovery code in the server log', async () => {
      assert(SERVER_LOG, 'BROWSER_TEST_SERVER_LOG is not set');
      const log = fs.readFileSync(SERVER_LOG);
      assert(secrets.length >= 3, `only ${secrets.length} secrets were collected`);
      for (const [what, value] of secrets) {
        assert(!log.includes(Buffer.from(value)), `${what} (${value}) appears in the server log`);
      }
    });
  } finally {
    await browser.close().catch(() => {});
  }
}

// 1. Passkeys: registration on the account page, passwordless sign-in,
//    second factor after the password.
async function passkeys(browser) {
  const page = await newPage(browser);
  const user = PASSKEY_USER;
  const authenticator = await addAuthenticator(page);

  const signedIn = await check('passkey user: signs in on /account with the password', async () => {
    await signInAccount(page, user);
  });
  if (signedIn) {
    await check('the account page links to the security page', async () => {
      const links = await page.locator(`main a[href="${PATH.security}"]`).count();
      assert(links > 0, `the account page has no link to ${PATH.security}`);
    });
  }

  let securityShown = false;
  if (signedIn) {
    securityShown = await check('the security page offers a passkey with a labelled name field', async () => {
      await openSecurity(page);
      const form = page.locator('form#passkey-register');
      assert((await form.count()) === 1, 'no form#passkey-register');
      assert((await form.getAttribute('action')) === '/account/passkeys', `its action is ${await form.getAttribute('action')}`);
      assert(await page.getByLabel(TEXT.passkeyName, { exact: true }).isVisible(), `no visible "${TEXT.passkeyName}" field`);
      const button = page.locator(`button[data-passkey="${PATH.passkeyOptions}"][data-passkey-form="passkey-register"]`);
      assert((await button.count()) === 1, 'no passkey button for form passkey-register');
      assert((await page.locator('script[src="/static/passkey.js"]').count()) === 1, 'no /static/passkey.js');
      await shot(page, 'mfa-security.png');
    });
  } else {
    blocked('security page', 'passkey user signs in');
  }

  const registered = securityShown && (await check('registering a passkey (virtual authenticator) lists it by name', async () => {
    await page.getByLabel(TEXT.passkeyName, { exact: true }).fill(PASSKEY_NAME);
    await clickPasskey(page, page.locator(`button[data-passkey="${PATH.passkeyOptions}"]`));
    // The first factor: its recovery codes are shown once, then a link
    // goes on to the security page.
    const shown = [...new Set((await page.locator('main').innerText()).match(RECOVERY_RE) || [])];
    if (shown.length) {
      for (const c of shown) secrets.push(['a recovery code', c]);
      assert(shown.length === 10, `${shown.length} recovery code(s) after the first passkey`);
      await shot(page, 'mfa-passkey-recovery-codes.png');
      await submit(page, page.locator(`main a[href^="${PATH.security}"]`).first());
    }
    const url = new URL(page.url());
    // After the recovery codes page (its own confirmation, role=status),
    // the security page itself; without it, the 303 to ?done=passkey.
    assert(
      url.pathname === PATH.security && (shown.length > 0 || url.searchParams.get('done') === 'passkey'),
      `ended at ${page.url()}`,
    );
    if (!shown.length) {
      assert(await page.getByRole('status').first().isVisible(), 'no confirmation (role=status)');
    }
    const main = await page.locator('main').innerText();
    assert(main.includes(PASSKEY_NAME), `"${PASSKEY_NAME}" is not listed:\n${main}`);
    const removers = await page.locator(`form[action="${PATH.passkeyRemove}"]`).count();
    assert(removers === 1, `${removers} passkey removal form(s), expected 1`);
    const creds = await authenticator.credentials();
    assert(creds.length === 1, `the authenticator holds ${creds.length} credential(s)`);
    assert(creds[0].isResidentCredential, 'the credential is not discoverable (resident)');
    assert(creds[0].rpId === new URL(ISSUER).hostname, `the credential's RP ID is ${creds[0].rpId}`);
    await shot(page, 'mfa-security-passkey.png');
  }));
  if (!securityShown) blocked('register a passkey', 'security page');

  await h.noProblems('passkey registration');

  const out = registered && (await check('passkey user: signs out', async () => signOut(page)));
  if (!registered) blocked('passkey user signs out', 'register a passkey');

  // Passwordless.
  let req;
  const loginShown = out && (await check('the login page offers "Sign in with a passkey"', async () => {
    req = await startAuthorization(page, 'passkey');
    const button = page.getByRole('button', { name: TEXT.passkeyButton, exact: true });
    assert(await button.isVisible(), `no visible "${TEXT.passkeyButton}" button`);
    assert((await button.getAttribute('data-passkey')) === PATH.loginPasskeyOptions, 'its data-passkey is wrong');
    assert((await button.getAttribute('data-passkey-form')) === 'passkey-form', 'its data-passkey-form is wrong');
    const mode = await page.locator('#passkey-form input[name=mode]').inputValue();
    assert(mode === 'passwordless', `the passkey form's mode is "${mode}"`);
    await shot(page, 'mfa-login-passkey.png');
  }));
  if (!out) blocked('login page passkey button', 'passkey user signs out');

  let code;
  const passwordless = loginShown && (await check('"Sign in with a passkey" alone signs in and returns a code', async () => {
    const before = (await authenticator.credentials())[0].signCount;
    await clickPasskey(page, page.getByRole('button', { name: TEXT.passkeyButton, exact: true }));
    code = await finishAuthorization(page, req.before, req.state);
    const after = (await authenticator.credentials())[0].signCount;
    assert(after > before, `the authenticator's sign count did not grow (${before} → ${after})`);
  }));
  if (!loginShown) blocked('passwordless sign-in', 'login page passkey button');

  if (passwordless) {
    await check('passwordless: ID token (signature verified) amr hwk|swk, user, mfa; acr phr', async () => {
      const t = await redeem(code, req);
      const { amr, acr } = t.claims;
      assert(Array.isArray(amr), `amr is ${JSON.stringify(amr)}`);
      assert(amr.includes('hwk') || amr.includes('swk'), `amr ${JSON.stringify(amr)} has neither hwk nor swk`);
      assert(amr.includes('user') && amr.includes('mfa'), `amr ${JSON.stringify(amr)} lacks user or mfa`);
      assert(!amr.includes('pwd'), `amr ${JSON.stringify(amr)} claims a password`);
      assert(acr === ACR.phishingResistant, `acr is ${JSON.stringify(acr)}`);
      accessMatches(t);
    });
  } else {
    blocked('passwordless tokens', 'passwordless sign-in');
  }

  // Second factor after the password.
  const out2 = passwordless && (await check('passkey user: signs out again', async () => signOut(page)));
  if (!passwordless) blocked('signs out again', 'passwordless sign-in');

  let req2;
  const factorShown = out2 && (await check('the password leads to the second-factor page with a passkey button', async () => {
    req2 = await startAuthorization(page, 'passkey-2fa');
    await enterPassword(page, user);
    assert(await onFactorPage(page), `not the second-factor page: ${page.url()}\n${(await page.locator('main').innerText()).slice(0, 400)}`);
    const any = page.locator(`button[data-passkey="${PATH.loginPasskeyOptions}"][data-passkey-form="passkey-form"]`);
    assert((await any.count()) === 1 && (await any.isVisible()), 'no visible passkey button for passkey-form');
    const mode = await page.locator('#passkey-form input[name=mode]').inputValue();
    assert(mode === 'second_factor', `the passkey form's mode is "${mode}"`);
    await shot(page, 'mfa-second-factor-passkey.png');
  }));
  if (!out2) blocked('second-factor page', 'signs out again');

  let code2;
  const second = factorShown && (await check('the passkey as second factor completes the sign-in', async () => {
    await clickPasskey(page, page.locator(`button[data-passkey="${PATH.loginPasskeyOptions}"]`));
    code2 = await finishAuthorization(page, req2.before, req2.state);
  }));
  if (!factorShown) blocked('passkey as second factor', 'second-factor page');

  if (second) {
    await check('password + passkey: ID token amr pwd, hwk|swk, mfa; acr phr', async () => {
      const t = await redeem(code2, req2);
      const { amr, acr } = t.claims;
      assert(Array.isArray(amr) && amr.includes('pwd') && amr.includes('mfa'), `amr ${JSON.stringify(amr)}`);
      assert(amr.includes('hwk') || amr.includes('swk'), `amr ${JSON.stringify(amr)} has neither hwk nor swk`);
      assert(acr === ACR.phishingResistant, `acr is ${JSON.stringify(acr)}`);
      accessMatches(t);
    });
  } else {
    blocked('second-factor tokens', 'passkey as second factor');
  }

  // The account page's own sign-in offers the passkey too.
  if (second) {
    await check('the account page signs in with the passkey alone', async () => {
      await signOut(page);
      const button = page.getByRole('button', { name: TEXT.passkeyButton, exact: true });
      assert(await button.isVisible(), `no "${TEXT.passkeyButton}" button on ${PATH.account}`);
      await clickPasskey(page, button);
      const profile = page.getByRole('heading', { name: 'Profile', level: 2 });
      if (!(await profile.count())) {
        const status = await page.evaluate(() => performance.getEntriesByType('navigation')[0]?.responseStatus);
        const body = (await page.locator('body').innerText()).slice(0, 500);
        await shot(page, 'mfa-account-passkey-failed.png');
        assert(false, `POST /login/passkey (mode passwordless, request "") ended on ${page.url()} (${status}):\n${body}`);
      }
      const main = await page.locator('main').innerText();
      assert(main.includes(user.username), 'the account page does not say who is signed in');
    });
  } else {
    blocked('account page passkey sign-in', 'passkey as second factor');
  }

  await h.noProblems('passkey sign-in');
  await page.context().close();
}

// The key shown in text on the TOTP enrolment page: a <code>/<kbd>/<samp>
// (or data-totp-secret) element first, else base32 text of 32 characters
// (20 bytes) in the page, maybe in groups.
async function readTotpKey(page) {
  const texts = await page
    .locator('main code, main kbd, main samp, main [data-totp-secret], main #totp-secret')
    .allInnerTexts();
  for (const t of texts) {
    const k = t.replace(/[\s-]/g, '').toUpperCase().replace(/=+$/, '');
    if (/^[A-Z2-7]{16,}$/.test(k)) return k;
  }
  const main = await page.locator('main').innerText();
  const m = /(?:[A-Z2-7]{4}[ -]?){7,}[A-Z2-7]{2,4}/i.exec(main);
  assert(m, `no key in text on the enrolment page:\n${main.slice(0, 600)}`);
  return m[0].replace(/[\s-]/g, '').toUpperCase();
}

// 2. TOTP: enrolment, sign-in with a code, a wrong code, a recovery code.
async function totp(browser) {
  const page = await newPage(browser);
  const user = TOTP_USER;
  let key;
  let lastStep = -1;
  let recovery = [];

  const signedIn = await check('TOTP user: signs in on /account and opens the security page', async () => {
    await signInAccount(page, user);
    await openSecurity(page);
    const start = page.locator(`form[action="${PATH.totp}"]`);
    assert((await start.count()) === 1, `no form posting to ${PATH.totp}`);
  });

  const enrolShown = signedIn && (await check('TOTP enrolment shows an inline SVG QR code and the key in text', async () => {
    await submit(page, formButton(page.locator(`form[action="${PATH.totp}"] input[name=csrf_token]`)));
    const svg = page.locator('main svg');
    assert((await svg.count()) >= 1, 'no inline <svg> in the page');
    const box = await svg.first().boundingBox();
    assert(box && box.width >= 100 && box.height >= 100, `the QR code is ${box && `${box.width}x${box.height}`} px`);
    const imgs = await page.locator('main img').count();
    assert(imgs === 0, `${imgs} <img> element(s): the QR code must be inline SVG`);
    assert((await page.locator('script:not([src])').count()) === 0, 'an inline script on the enrolment page');
    key = await readTotpKey(page);
    secrets.push(['the TOTP key', key]);
    assert(Buffer.from(OTPAUTH.Secret.fromBase32(key).buffer).length >= 20, `the key ${key} is shorter than 20 bytes`);
    const confirm = page.locator(`form[action="${PATH.totpConfirm}"]`);
    assert((await confirm.count()) === 1, `no form posting to ${PATH.totpConfirm}`);
    await shot(page, 'mfa-totp-enrol.png');
  }));
  if (!signedIn) blocked('TOTP enrolment page', 'TOTP user signs in');

  const confirmed = enrolShown && (await check('a code computed from the key confirms it; ten recovery codes are shown', async () => {
    const field = page.locator(`form[action="${PATH.totpConfirm}"] input:not([type=hidden])`).first();
    const id = await field.getAttribute('id');
    assert(id && (await page.locator(`label[for="${id}"]`).count()) === 1, 'the code field has no label');
    const { code, step } = await freshCode(totpFor(key), lastStep);
    await field.fill(code);
    await submit(page, formButton(field));
    lastStep = step;
    const main = await page.locator('main').innerText();
    recovery = [...new Set(main.match(RECOVERY_RE) || [])];
    for (const c of recovery) secrets.push(['a recovery code', c]);
    assert(recovery.length === 10, `${recovery.length} recovery code(s) on ${page.url()}:\n${main.slice(0, 800)}`);
    await shot(page, 'mfa-recovery-codes.png');
  }));
  if (!enrolShown) blocked('TOTP confirmation', 'TOTP enrolment page');

  if (confirmed) {
    await check('the security page then says TOTP is on and offers its removal', async () => {
      await openSecurity(page);
      const removers = await page.locator('form[action="/account/totp/remove"]').count();
      assert(removers === 1, `${removers} form(s) posting to /account/totp/remove`);
      await shot(page, 'mfa-security-totp.png');
    });
  }

  await h.noProblems('TOTP enrolment');

  const out = confirmed && (await check('TOTP user: signs out', async () => signOut(page)));
  if (!confirmed) blocked('TOTP user signs out', 'TOTP confirmation');

  let req;
  const factorShown = out && (await check('the password leads to the second-factor page with a code field', async () => {
    req = await startAuthorization(page, 'totp');
    await enterPassword(page, user);
    assert(await onFactorPage(page), `not the second-factor page: ${page.url()}\n${(await page.locator('main').innerText()).slice(0, 400)}`);
    await factorField(page, 'totp');
    await shot(page, 'mfa-second-factor.png');
    await page.setViewportSize(h.MOBILE);
    const widths = await page.evaluate(() => ({ doc: document.documentElement.scrollWidth, win: window.innerWidth }));
    await shot(page, 'mfa-second-factor-375.png');
    await page.setViewportSize(h.DESKTOP);
    assert(widths.doc <= widths.win, `the page is ${widths.doc} px wide in a ${widths.win} px window`);
  }));
  if (!out) blocked('second-factor page (TOTP)', 'TOTP user signs out');

  const wrongOk = factorShown && (await check('a wrong code shows an error (role=alert) and stays on the page', async () => {
    const field = await factorField(page, 'totp');
    await field.fill(wrongCode(totpFor(key)));
    await submit(page, formButton(field));
    h.expectLoggedStatus(400);
    h.expectLoggedStatus(401);
    h.expectLoggedStatus(403);
    const alert = h.alerts(page);
    await alert.first().waitFor();
    assert(await onFactorPage(page), `left the second-factor page: ${page.url()}`);
    assert(h.redirects.length === req.before, 'a wrong code reached the redirect URI');
    const id = await alert.first().getAttribute('id');
    const described = await (await factorField(page, 'totp')).getAttribute('aria-describedby');
    assert(id && (described || '').split(' ').includes(id), `the code field is not described by the error #${id}`);
    await shot(page, 'mfa-second-factor-error.png');
  }));
  if (!factorShown) blocked('wrong code', 'second-factor page (TOTP)');

  let code;
  const signedInTotp = wrongOk && (await check('the right code (a new step) completes the sign-in', async () => {
    const field = await factorField(page, 'totp');
    const fresh = await freshCode(totpFor(key), lastStep);
    await field.fill(fresh.code);
    lastStep = fresh.step;
    await submit(page, formButton(field));
    code = await finishAuthorization(page, req.before, req.state);
  }));
  if (!wrongOk) blocked('TOTP sign-in', 'wrong code');

  if (signedInTotp) {
    await check('password + TOTP: ID token (signature verified) amr pwd, otp, mfa; acr 2fa', async () => {
      const t = await redeem(code, req);
      const { amr, acr } = t.claims;
      assert(sameSet(amr, ['pwd', 'otp', 'mfa']), `amr is ${JSON.stringify(amr)}`);
      assert(acr === ACR.twoFactor, `acr is ${JSON.stringify(acr)}`);
      accessMatches(t);
    });
  } else {
    blocked('TOTP tokens', 'TOTP sign-in');
  }

  // A recovery code instead of the app.
  const out2 = signedInTotp && recovery.length > 0 && (await check('TOTP user: signs out again', async () => signOut(page)));
  if (!out2) blocked('signs out again (TOTP)', 'TOTP sign-in');

  let req2;
  let code2;
  const used = recovery[3];
  const byRecovery = out2 && (await check('a recovery code instead of the app completes the sign-in', async () => {
    req2 = await startAuthorization(page, 'recovery');
    await enterPassword(page, user);
    assert(await onFactorPage(page), `not the second-factor page: ${page.url()}`);
    const field = await factorField(page, 'recovery');
    // Typed as a person might: upper case, without the dashes.
    await field.fill(used.toUpperCase().replace(/-/g, ' '));
    await shot(page, 'mfa-second-factor-recovery.png');
    await submit(page, formButton(field));
    code2 = await finishAuthorization(page, req2.before, req2.state);
  }));
  if (!out2) blocked('recovery code sign-in', 'signs out again (TOTP)');

  if (byRecovery) {
    await check('password + recovery code: amr pwd, otp, mfa; acr 2fa', async () => {
      const t = await redeem(code2, req2);
      const { amr, acr } = t.claims;
      assert(sameSet(amr, ['pwd', 'otp', 'mfa']), `amr is ${JSON.stringify(amr)}`);
      assert(acr === ACR.twoFactor, `acr is ${JSON.stringify(acr)}`);
    });

    await check('the used recovery code is refused the second time', async () => {
      await signOut(page);
      const r = await startAuthorization(page, 'recovery-again');
      await enterPassword(page, user);
      assert(await onFactorPage(page), `not the second-factor page: ${page.url()}`);
      const field = await factorField(page, 'recovery');
      await field.fill(used);
      await submit(page, formButton(field));
      h.expectLoggedStatus(400);
      h.expectLoggedStatus(401);
      h.expectLoggedStatus(403);
      await h.alerts(page).first().waitFor();
      assert(await onFactorPage(page), `left the second-factor page: ${page.url()}`);
      assert(h.redirects.length === r.before, 'a used recovery code reached the redirect URI');
    });
  } else {
    blocked('recovery code tokens', 'recovery code sign-in');
    blocked('used recovery code refused', 'recovery code sign-in');
  }

  // The account page's own sign-in asks for the second factor too.
  if (signedInTotp) {
    await check('the account page asks for the code after the password, and signs in with it', async () => {
      await signOut(page);
      await page.getByLabel('Username', { exact: true }).fill(user.username);
      await page.getByLabel('Password', { exact: true }).fill(user.password);
      await submit(page, page.getByRole('button', { name: TEXT.signIn, exact: true }));
      assert(await onFactorPage(page), `no second-factor step on ${page.url()}`);
      const field = await factorField(page, 'totp');
      const fresh = await freshCode(totpFor(key), lastStep);
      await field.fill(fresh.code);
      lastStep = fresh.step;
      await submit(page, formButton(field));
      const profile = page.getByRole('heading', { name: 'Profile', level: 2 });
      if (!(await profile.count())) {
        h.expectLoggedStatus(400, PATH.loginFactor);
        const body = (await page.locator('body').innerText()).slice(0, 300);
        assert(false, `the code (form with request "") ended on ${page.url()}:\n${body}`);
      }
    });
  } else {
    blocked('account page sign-in with TOTP', 'TOTP sign-in');
  }

  await h.noProblems('TOTP sign-in');
  await page.context().close();
}

h.runMain(main, {
  label: 'MFA browser test',
  after: () => {
    console.log(`screenshots (${S.artifacts}): ${h.shots.join(', ') || '(none)'}`);
  },
});
