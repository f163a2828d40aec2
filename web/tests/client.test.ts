import { describe, expect, it, vi } from 'vitest'
import { ApiClient, csrfFromCookie, type TokenStore } from '../src/api/client'
import { ApiError } from '../src/api/errors'

function json(status: number, body: unknown): Response {
  return new Response(status === 204 ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' },
  })
}

function memoryTokens(initial: string | null): TokenStore & { value: string | null } {
  return {
    value: initial,
    get() {
      return this.value
    },
    set(t) {
      this.value = t
    },
  }
}

/** A server that accepts only `valid` as the bearer token and refreshes to `next`. */
function server(valid: { token: string }, next: string, refreshOk = true) {
  const calls: string[] = []
  const fetchImpl = vi.fn(async (url: string | URL | Request, init?: RequestInit) => {
    const path = String(url)
    const headers = (init?.headers ?? {}) as Record<string, string>
    calls.push(`${init?.method} ${path}`)
    if (path === '/api/auth/refresh') {
      expect(headers['X-CSRF-Token']).toBe('csrf-1')
      if (!refreshOk) return json(401, { error: { code: 'invalid_refresh_token', message: 'no' } })
      valid.token = next
      return json(200, { access_token: next })
    }
    if (headers.Authorization !== `Bearer ${valid.token}`) {
      return json(401, { error: { code: 'invalid_token', message: 'expired' } })
    }
    return json(200, { ok: path })
  })
  return { calls, fetchImpl: fetchImpl as unknown as typeof fetch }
}

const noLock = <T>(_name: string, task: () => Promise<T>) => task()

describe('ApiClient', () => {
  it('sends the bearer token and parses JSON', async () => {
    const s = server({ token: 'a' }, 'b')
    const client = new ApiClient({ tokens: memoryTokens('a'), fetch: s.fetchImpl, lock: noLock })
    await expect(client.request('GET', '/api/me')).resolves.toEqual({ ok: '/api/me' })
    expect(s.calls).toEqual(['GET /api/me'])
  })

  it('refreshes once on a 401 and retries the request', async () => {
    const s = server({ token: 'fresh' }, 'fresh')
    const tokens = memoryTokens('stale')
    const client = new ApiClient({
      tokens,
      fetch: s.fetchImpl,
      lock: noLock,
      csrfToken: () => 'csrf-1',
    })
    await expect(client.request('GET', '/api/documents')).resolves.toEqual({ ok: '/api/documents' })
    expect(s.calls).toEqual(['GET /api/documents', 'POST /api/auth/refresh', 'GET /api/documents'])
    expect(tokens.value).toBe('fresh')
  })

  it('shares one refresh between concurrent requests', async () => {
    const s = server({ token: 'new' }, 'new')
    const client = new ApiClient({
      tokens: memoryTokens('old'),
      fetch: s.fetchImpl,
      lock: noLock,
      csrfToken: () => 'csrf-1',
    })
    await Promise.all([
      client.request('GET', '/api/a'),
      client.request('GET', '/api/b'),
      client.request('GET', '/api/c'),
    ])
    expect(s.calls.filter((c) => c === 'POST /api/auth/refresh')).toHaveLength(1)
  })

  it('holds the cross-tab lock while refreshing', async () => {
    const s = server({ token: 'new' }, 'new')
    const held: string[] = []
    const lock = async <T>(name: string, task: () => Promise<T>) => {
      held.push(name)
      return task()
    }
    const client = new ApiClient({
      tokens: memoryTokens('old'),
      fetch: s.fetchImpl,
      lock,
      csrfToken: () => 'csrf-1',
    })
    await client.request('GET', '/api/a')
    expect(held).toEqual(['docuvault-refresh'])
  })

  it('signs out when the refresh fails, and does not retry again', async () => {
    const s = server({ token: 'x' }, 'y', false)
    const tokens = memoryTokens('old')
    const signedOut = vi.fn()
    const client = new ApiClient({
      tokens,
      fetch: s.fetchImpl,
      lock: noLock,
      csrfToken: () => 'csrf-1',
      onSignedOut: signedOut,
    })
    const err = await client.request('GET', '/api/me').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect((err as ApiError).code).toBe('invalid_token')
    expect(signedOut).toHaveBeenCalledOnce()
    expect(tokens.value).toBeNull()
    expect(s.calls).toEqual(['GET /api/me', 'POST /api/auth/refresh'])
  })

  it('turns error bodies and network failures into readable ApiErrors', async () => {
    const fetchImpl = vi
      .fn()
      .mockResolvedValueOnce(json(413, { error: { code: 'quota_exceeded', message: 'storage quota exceeded' } }))
      .mockResolvedValueOnce(new Response('<html>Bad Gateway</html>', { status: 502 }))
      .mockRejectedValueOnce(new TypeError('Failed to fetch'))
    const client = new ApiClient({ tokens: memoryTokens('t'), fetch: fetchImpl, lock: noLock })
    const quota = (await client.request('POST', '/api/uploads', { body: {} }).catch((e) => e)) as ApiError
    expect([quota.status, quota.code, quota.message]).toEqual([413, 'quota_exceeded', 'storage quota exceeded'])
    const proxy = (await client.request('GET', '/api/me').catch((e) => e)) as ApiError
    expect(proxy.message).not.toContain('<html>')
    expect(proxy.status).toBe(502)
    const offline = (await client.request('GET', '/api/me').catch((e) => e)) as ApiError
    expect(offline.code).toBe('network_error')
  })

  it('answers undefined for a success without a body (204, or the reset request\'s 202)', async () => {
    const fetchImpl = vi
      .fn()
      .mockResolvedValueOnce(new Response(null, { status: 202 }))
      .mockResolvedValueOnce(new Response(null, { status: 204 }))
    const client = new ApiClient({ tokens: memoryTokens(null), fetch: fetchImpl, lock: noLock })
    await expect(client.request('POST', '/api/auth/password-reset/request', { body: {} })).resolves.toBeUndefined()
    await expect(client.request('DELETE', '/api/topics/x')).resolves.toBeUndefined()
  })

  it('reads the CSRF token from its cookie', () => {
    expect(csrfFromCookie('a=1; docuvault_csrf=abc%3D; b=2')).toBe('abc=')
    expect(csrfFromCookie('a=1')).toBeNull()
  })
})
