#!/usr/bin/env node
// End-to-end FAPI 2.0 Security Profile flow (issue 19), driven by an
// independent, certified relying-party library: npm `openid-client` (panva,
// on `oauth4webapi`). The client is registered with `--profile fapi2`
// (private_key_jwt with an ES256 key made by scripts/browser-test, ES256 ID
// tokens). The library pushes the authorization request (RFC 9126) with its
// private_key_jwt assertion and a DPoP proof (RFC 9449 §10.1), headless
// Chromium opens the short authorization URL, signs in and allows, and the
// library redeems the code with PKCE S256 and a DPoP proof, checks `iss`
// (RFC 9207), `state` and the ID token, calls /userinfo with the DPoP
// scheme and a proof carrying `ath`, and refreshes with a proof. The ID
// token is also verified against the JWKS with `jose`, and the access
// token's `cnf.jkt` is compared with the thumbprint of the DPoP key.
// What a FAPI 2.0 client must be refused is checked too: a request that was
// not pushed, the access token presented as a Bearer token.
//
// Normally started by scripts/browser-test. Settings (environment):
//   BROWSER_TEST_ISSUER            issuer URL of the running server (required)
//   BROWSER_TEST_CLIENT_ID / _SECRET  the common client (required by the harness)
//   BROWSER_TEST_FAPI_CLIENT_ID    the fapi2 client (required)
//   BROWSER_TEST_FAPI_CLIENT_NAME  its display name (default "FAPI Bank App")
//   BROWSER_TEST_FAPI_KEY          PKCS#8 PEM file of its ES256 key (required)
//   BROWSER_TEST_FAPI_KID          the key's kid in the registered JWK Set (required)
//   BROWSER_TEST_USERNAME / _PASSWORD  a user without factors (required)
//   BROWSER_TEST_REDIRECT_URI      the redirect URI (default https://app.example/cb)
//
// Exits 0 when every check passed; the last line is `N passed, M failed`.
'use strict';

const fs = require('node:fs');
const h = require('./harness');

const { assert, check, blocked, submit, shot } = h;

const S = h.configure(h.commonSettings());
const ISSUER = S.issuer;
const CLIENT_ID = h.required('BROWSER_TEST_FAPI_CLIENT_ID');
const CLIENT_NAME = process.env.BROWSER_TEST_FAPI_CLIENT_NAME || 'FAPI Bank App';
const KEY_FILE = h.required('BROWSER_TEST_FAPI_KEY');
const KID = h.required('BROWSER_TEST_FAPI_KID');
const USER = {
  username: h.required('BROWSER_TEST_USERNAME'),
  password: h.required('BROWSER_TEST_PASSWORD'),
};

async function main() {
  fs.mkdirSync(S.artifacts, { recursive: true });
  const oidc = await import('openid-client');
  const jose = await import('jose');
  const key = await jose.importPKCS8(fs.readFileSync(KEY_FILE, 'utf8'), 'ES256');
  // http://localhost is the issuer of this test run; the library refuses
  // plain http unless told.
  const config = await oidc.discovery(
    new URL(ISSUER),
    CLIENT_ID,
    { id_token_signed_response_alg: 'ES256' },
    oidc.PrivateKeyJwt({ key, kid: KID }),
    { execute: [oidc.allowInsecureRequests] },
  );
  const meta = config.serverMetadata();
  const dpopKeys = await oidc.randomDPoPKeyPair('ES256');
  const dpop = oidc.getDPoPHandle(config, dpopKeys);
  const verifier = oidc.randomPKCECodeVerifier();
  const challenge = await oidc.calculatePKCECodeChallenge(verifier);
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();

  await check('discovery advertises PAR, DPoP, private_key_jwt and iss', async () => {
    assert(meta.pushed_authorization_request_endpoint === `${ISSUER}/par`, JSON.stringify(meta));
    assert(meta.dpop_signing_alg_values_supported?.includes('ES256'), 'dpop_signing_alg_values_supported');
    assert(meta.token_endpoint_auth_methods_supported?.includes('private_key_jwt'), 'private_key_jwt');
    assert(meta.authorization_response_iss_parameter_supported === true, 'RFC 9207 iss');
    assert(meta.code_challenge_methods_supported?.includes('S256'), 'S256');
  });

  let authUrl;
  const pushed = await check('the library pushes the request (PAR, private_key_jwt, DPoP)', async () => {
    authUrl = await oidc.buildAuthorizationUrlWithPAR(
      config,
      {
        redirect_uri: S.redirectUri,
        scope: 'openid profile offline_access',
        code_challenge: challenge,
        code_challenge_method: 'S256',
        state,
        nonce,
      },
      { DPoP: dpop },
    );
    const q = authUrl.searchParams;
    assert(q.get('client_id') === CLIENT_ID, authUrl.href);
    assert(/^urn:ietf:params:oauth:request_uri:/.test(q.get('request_uri') || ''), authUrl.href);
    assert(!q.has('scope') && !q.has('redirect_uri'), `only client_id and request_uri: ${authUrl.href}`);
  });

  await check('a FAPI 2.0 client cannot skip PAR', async () => {
    const q = new URLSearchParams({
      response_type: 'code',
      client_id: CLIENT_ID,
      redirect_uri: S.redirectUri,
      scope: 'openid',
      state: 'not-pushed',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    const r = await fetch(`${ISSUER}/authorize?${q}`, { redirect: 'manual' });
    const where = r.headers.get('location') || '';
    assert(r.status >= 300 && r.status < 400, `status ${r.status}`);
    const back = new URL(where);
    assert(back.searchParams.get('error') === 'invalid_request', where);
    assert(back.searchParams.get('state') === 'not-pushed', where);
    assert(!back.searchParams.has('code'), where);
  });

  if (!pushed) {
    blocked('the browser signs in and allows', 'the library pushes the request');
    return;
  }
  const browser = await h.launch();
  let callback;
  try {
    const context = await browser.newContext({ viewport: h.DESKTOP });
    const page = await h.watchPage(await context.newPage());
    const allowed = await check('the browser signs in and allows', async () => {
      await page.goto(authUrl.href);
      assert((await page.locator('h1').innerText()).includes('Sign in'), 'the sign-in page');
      await page.locator('#username').fill(USER.username);
      await page.locator('#password').fill(USER.password);
      await submit(page, page.getByRole('button', { name: 'Sign in', exact: true }));
      const heading = await page.locator('h1').innerText();
      assert(heading.includes(CLIENT_NAME), `consent heading: ${heading}`);
      await shot(page, 'fapi-consent.png');
      await page.getByRole('button', { name: 'Allow' }).click();
      callback = await h.waitForRedirect(page, 1);
      assert(callback.searchParams.get('iss') === ISSUER, `iss in ${callback.href}`);
    });
    await h.noProblems('FAPI 2.0 flow');
    if (!allowed) {
      blocked('the library redeems the code', 'the browser signs in and allows');
      return;
    }
  } finally {
    await browser.close().catch(() => {});
  }

  let tokens;
  const redeemed = await check('the library redeems the code (PKCE S256, DPoP, iss, state, nonce)', async () => {
    tokens = await oidc.authorizationCodeGrant(
      config,
      callback,
      { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true },
      undefined,
      { DPoP: dpop },
    );
    assert(String(tokens.token_type).toLowerCase() === 'dpop', `token_type ${tokens.token_type}`);
    assert(tokens.refresh_token, 'a refresh token for offline_access');
  });
  if (!redeemed) {
    blocked('the tokens are sender-constrained', 'the library redeems the code');
    return;
  }

  await check('the ID token verifies (jose, ES256) and the access token is bound to the DPoP key', async () => {
    const jwks = jose.createRemoteJWKSet(new URL(meta.jwks_uri));
    const { payload, protectedHeader } = await jose.jwtVerify(tokens.id_token, jwks, {
      issuer: ISSUER,
      audience: CLIENT_ID,
    });
    assert(protectedHeader.alg === 'ES256', `ID token alg ${protectedHeader.alg}`);
    assert(payload.nonce === nonce, 'nonce');
    const at = jose.decodeJwt(tokens.access_token);
    const publicJwk = await jose.exportJWK(dpopKeys.publicKey);
    const jkt = await jose.calculateJwkThumbprint(publicJwk, 'sha256');
    assert(at.cnf && at.cnf.jkt === jkt, `cnf ${JSON.stringify(at.cnf)} vs ${jkt}`);
  });

  await check('userinfo answers the DPoP-bound token with a proof (ath)', async () => {
    const claims = tokens.claims();
    const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub, { DPoP: dpop });
    assert(info.sub === claims.sub, JSON.stringify(info));
    assert(info.preferred_username === USER.username, JSON.stringify(info));
  });

  await check('the bound access token is refused as a Bearer token', async () => {
    const r = await fetch(meta.userinfo_endpoint, {
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    assert(r.status === 401, `status ${r.status}`);
  });

  await check('the library refreshes with a DPoP proof', async () => {
    const next = await oidc.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP: dpop });
    assert(String(next.token_type).toLowerCase() === 'dpop', `token_type ${next.token_type}`);
    const at = jose.decodeJwt(next.access_token);
    assert(at.cnf && typeof at.cnf.jkt === 'string', JSON.stringify(at));
  });
}

h.runMain(main, { label: 'fapi.js' });
