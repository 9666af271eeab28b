// The peer of scripts/bench --peer: panva's oidc-provider 9.x with a
// configuration equivalent to portcullis's benchmark set-up (our own code;
// docs/BENCHMARKS.md describes it):
//   - one confidential client, client_secret_basic, grants
//     authorization_code refresh_token client_credentials;
//   - a private JWKS with an ES256 key and an RS256 (2048) key generated at
//     start;
//   - features clientCredentials, introspection, revocation,
//     resourceIndicators with a default resource whose access tokens are
//     ES256 at+jwt (as portcullis issues for client_credentials);
//   - the in-memory adapter (the default);
//   - run with NODE_ENV=production.
// Listens on 127.0.0.1:$PORT.
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 3000);
const issuer = `http://127.0.0.1:${port}`;
const RESOURCE = 'https://api.bench.example';

function jwk(type, options, alg, kid) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid };
}

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'bench-client',
    client_secret: 'bench-secret-0123456789abcdef0123456789abcdef',
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    response_types: ['code'],
    redirect_uris: ['https://bench.example/cb'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: {
    keys: [
      jwk('ec', { namedCurve: 'P-256' }, 'ES256', 'bench-es256'),
      jwk('rsa', { modulusLength: 2048 }, 'RS256', 'bench-rs256'),
    ],
  },
  scopes: ['openid', 'offline_access', 'profile', 'email', 'api:read'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'api:read',
        audience: RESOURCE,
        accessTokenTTL: 600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
  findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
