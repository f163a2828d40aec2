// A real OpenID Connect provider for the tests: the npm package `oidc-provider` (OpenID
// Certified), with its development sign-in form (any login name, any password) and three
// clients. The Rust tests and the Chromium run start it; it prints one JSON line with its issuer
// once it listens, and stops when its stdin closes (so a killed test leaves no provider behind).
//
// Accounts: the login name typed is the subject. Its email is the name itself when it has an
// `@`, else `<name>@example.org`; the email is verified unless the name starts with
// `unverified`. The provider remembers nothing across runs.
//
//   PORT=0                     where to listen (0: any free port)
//   OIDC_REDIRECT_URIS=a,b     the callback URLs the clients may use
//   OIDC_CLIENT_SECRET=…       the confidential client's secret (default: docuvault-test-secret)

import { generateKeyPairSync } from 'node:crypto'
import http from 'node:http'
import Provider from 'oidc-provider'

const redirectUris = (process.env.OIDC_REDIRECT_URIS ?? '').split(',').filter(Boolean)
if (redirectUris.length === 0) {
  console.error('OIDC_REDIRECT_URIS is not set')
  process.exit(2)
}
const secret = process.env.OIDC_CLIENT_SECRET ?? 'docuvault-test-secret'

function signingKey(kid) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  return { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' }
}

function account(id) {
  const email = id.includes('@') ? id : `${id}@example.org`
  return {
    accountId: id,
    async claims() {
      return {
        sub: id,
        email,
        email_verified: !id.startsWith('unverified'),
        preferred_username: email.split('@')[0],
        name: `Test ${id}`,
      }
    },
  }
}

const server = http.createServer()
await new Promise((resolve) => server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', resolve))
const issuer = `http://127.0.0.1:${server.address().port}`

const provider = new Provider(issuer, {
  clients: [
    { client_id: 'docuvault', client_secret: secret, redirect_uris: redirectUris },
    {
      client_id: 'docuvault-public',
      token_endpoint_auth_method: 'none',
      redirect_uris: redirectUris,
    },
    { client_id: 'other-client', client_secret: 'other-secret', redirect_uris: redirectUris },
  ],
  jwks: { keys: [signingKey('test-key-1')] },
  cookies: { keys: ['a cookie key for tests only'] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
  },
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => true },
  findAccount: (ctx, id) => account(id),
  // First-party clients: no consent screen. The grant covers what was asked for.
  async loadExistingGrant(ctx) {
    const { client, session, params } = ctx.oidc
    const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId })
    grant.addOIDCScope(String(params.scope ?? 'openid'))
    await grant.save()
    return grant
  },
})
// Quiet: the development-interactions warning would go to the test's output on every start.
provider.on('server_error', (ctx, err) => console.error('[oidc-provider]', err))
server.on('request', provider.callback())

process.stdout.write(`${JSON.stringify({ issuer })}\n`)
// The starter reads that one line and may close the pipe: anything later goes to stderr.
process.stdout.on('error', () => {})
console.log = console.error
console.info = console.error
process.stdin.resume()
process.stdin.on('end', () => process.exit(0))
process.stdin.on('close', () => process.exit(0))
