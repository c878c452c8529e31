// The outside issuer vsmesh's login tests sign in at: panva's oidc-provider (a certified OpenID Provider), set up
// as a realm like Keycloak's would be for vsmesh (README "Keycloak"), served over HTTPS on a socket the test made.
//
// Environment (all set by tests/gateway/test_outside_issuer.py):
//   ISSUER         https://127.0.0.1:PORT, the socket's own address
//   LISTEN_FD      the listening socket, inherited from the test (no port picked twice, no race for one)
//   TLS_CERT, TLS_KEY   PEM files of the issuer's certificate (made by the test's own CA) and key
//   AUDIENCE       the gateway's URL: the one resource (RFC 8707) whose access tokens are JWTs
//   PEOPLE         JSON {"name": "password"}: who may sign in, with which password
//   CLIENTS        JSON [{"client_id", "client_secret", "actor_kind"}]: agents' and services' confidential clients,
//                  client credentials only
//   DEVICE_POLL_S  the device grant's polling interval (Keycloak: the realm's "device polling interval")
import * as crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as https from 'node:https';
import * as querystring from 'node:querystring';

import Provider, { errors } from 'oidc-provider';

const env = process.env;
const people = JSON.parse(env.PEOPLE);
const confidential = JSON.parse(env.CLIENTS);
const kindOf = Object.fromEntries(confidential.map((c) => [c.client_id, c.actor_kind]));
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

function signingKeys() {
  // RS256 for ID tokens (the OIDC default), ES256 for the gateway's access tokens.
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  return { keys: [{ ...rsa, kid: 'rsa-1', use: 'sig', alg: 'RS256' }, { ...ec, kid: 'ec-1', use: 'sig', alg: 'ES256' }] };
}

// Who approved the token: the grant source's own `authTime` (device code, authorization code, refresh token).
function authTime(ctx) {
  const { DeviceCode, AuthorizationCode, RefreshToken } = ctx.oidc.entities;
  return (DeviceCode ?? AuthorizationCode ?? RefreshToken)?.authTime;
}

const configuration = {
  clients: [
    {
      // The CLI: public (no secret a terminal could leak), the device grant and a loopback redirect (RFC 8252).
      client_id: 'vsmesh-cli',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: [DEVICE_GRANT, 'authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/callback'],
    },
    {
      // The gateway's pages: a public client whose code comes back to the gateway's own sign-in callback.
      client_id: 'vsmesh-pages',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: [`${env.AUDIENCE}/signin/callback`],
    },
    ...confidential.map(({ client_id, client_secret }) => ({
      client_id, client_secret, grant_types: ['client_credentials'], response_types: [], redirect_uris: [],
    })),
  ],
  jwks: signingKeys(),
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  findAccount(ctx, id) {
    if (!Object.hasOwn(people, id)) return undefined;
    return { accountId: id, claims: () => ({ sub: id, name: id }) };
  },
  features: {
    devInteractions: { enabled: false }, // they take any name without a password: ours below check it
    deviceFlow: { enabled: true },
    clientCredentials: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined, // a client names the resource it wants a token for, or gets none
      useGrantedResource: () => true,
      getResourceServerInfo(ctx, resource) {
        if (resource !== env.AUDIENCE) throw new errors.InvalidTarget(`unknown resource ${resource}`);
        return { scope: '', audience: env.AUDIENCE, accessTokenFormat: 'jwt', accessTokenTTL: 300, jwt: { sign: { alg: 'ES256' } } };
      },
    },
  },
  // Keycloak's defaults for vsmesh's realm: access tokens carry `auth_time` (its `basic` scope) and `name`
  // (`profile`), an agent's or a service's client adds `actor_kind` (a hardcoded-claim mapper), people get
  // refresh tokens.
  async extraTokenClaims(ctx, token) {
    if (token.kind === 'ClientCredentials') return { actor_kind: kindOf[token.clientId] };
    return { auth_time: authTime(ctx), name: token.accountId };
  },
  issueRefreshToken: (ctx, client) => client.grantTypeAllowed('refresh_token'),
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  pkce: { required: () => true, methods: ['S256'] },
  ttl: { AccessToken: 300, AuthorizationCode: 60, ClientCredentials: 300, DeviceCode: 600, Grant: 3600, IdToken: 300,
    Interaction: 600, RefreshToken: 86400, Session: 86400 },
};

const provider = new Provider(env.ISSUER, configuration);
provider.on('device_authorization.success', (ctx, body) => {
  body.interval = Number(env.DEVICE_POLL_S); // oidc-provider leaves it out: clients would wait RFC 8628's 5 s
});
provider.on('server_error', (ctx, error) => console.error('server_error', error));

// --- the sign-in pages: the person's name and password; consent given as Keycloak does with it off

const page = (title, body) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head><body>${body}</body></html>`;
const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginForm(uid, problem = '') {
  const alert = problem ? `<p role="alert">${escape(problem)}</p>` : '';
  return page('Sign in to vsmesh', `<h1>Sign in</h1>${alert}<form method="post" action="/interaction/${uid}/login">
<label>User name <input name="login" required></label>
<label>Password <input name="password" type="password" required></label>
<button type="submit">Sign in</button></form>`);
}

async function consent(req, res, details) {
  const { prompt, params, session, grantId } = details;
  const grant = grantId ? await provider.Grant.find(grantId) : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  const missing = prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(resource, scopes.join(' '));
  }
  await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
}

async function body(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return querystring.parse(Buffer.concat(chunks).toString());
}

function answer(res, status, html) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (action === undefined && req.method === 'GET') {
    if (details.prompt.name === 'consent') return consent(req, res, details);
    return answer(res, 200, loginForm(uid));
  }
  if (action === 'login' && req.method === 'POST' && details.prompt.name === 'login') {
    const { login, password } = await body(req);
    const known = Object.hasOwn(people, login) && crypto.timingSafeEqual(
      crypto.createHash('sha256').update(String(people[login])).digest(),
      crypto.createHash('sha256').update(String(password)).digest(),
    );
    if (!known) return answer(res, 401, loginForm(uid, 'Wrong user name or password.'));
    return provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
  }
  return answer(res, 400, page('Error', '<p>This is not a step of the sign-in.</p>'));
}

const callback = provider.callback();
const server = https.createServer({ cert: readFileSync(env.TLS_CERT), key: readFileSync(env.TLS_KEY) }, (req, res) => {
  const found = /^\/interaction\/([\w-]+)(?:\/(\w+))?$/.exec(new URL(req.url, env.ISSUER).pathname);
  if (!found) return callback(req, res);
  return interaction(req, res, found[1], found[2]).catch((error) => {
    console.error('interaction failed', error);
    answer(res, 400, page('Error', `<p>${escape(error.message)}</p>`));
  });
});
server.listen({ fd: Number(env.LISTEN_FD) }, () => console.log(`listening ${env.ISSUER}`));
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
