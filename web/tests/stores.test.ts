import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { accessToken } from '../src/api/session'
import { useAuth } from '../src/stores/auth'
import { useDocuments } from '../src/stores/documents'

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

const doc = (id: string, status: string, created: string) => ({
  id,
  filename: `${id}.txt`,
  content_type: 'text/plain',
  size_bytes: 10,
  status,
  error: null,
  text_truncated: false,
  topics: [],
  topics_by_hand: false,
  created_at: created,
  updated_at: created,
})

describe('stores', () => {
  beforeEach(() => {
    setActivePinia(createPinia())
    accessToken.value = 'token'
    document.cookie = 'docuvault_csrf=csrf-1; path=/'
  })

  it('documents follow the live changes: an update refetches one, a deletion removes it', async () => {
    const fetchMock = vi.fn(async (url: string) => {
      if (url === '/api/documents?limit=100') {
        return json(200, {
          items: [doc('b', 'pending', '2026-11-30T10:00:01Z'), doc('a', 'classified', '2026-11-30T10:00:00Z')],
          next_cursor: null,
        })
      }
      if (url === '/api/documents/b') return json(200, doc('b', 'classified', '2026-11-30T10:00:01Z'))
      if (url === '/api/documents/c') return json(200, doc('c', 'pending', '2026-11-30T10:00:02Z'))
      return json(404, { error: { code: 'document_not_found', message: 'document not found' } })
    })
    vi.stubGlobal('fetch', fetchMock)
    const docs = useDocuments()
    await docs.load()
    expect(docs.items.map((d) => d.id)).toEqual(['b', 'a'])

    docs.applyChange({ document_id: 'b', change: 'updated', status: 'classified' })
    docs.applyChange({ document_id: 'c', change: 'created', status: 'pending' })
    await vi.waitFor(() => expect(docs.items.map((d) => [d.id, d.status])).toEqual([
      ['c', 'pending'],
      ['b', 'classified'],
      ['a', 'classified'],
    ]))
    docs.applyChange({ document_id: 'a', change: 'deleted', status: null })
    expect(docs.items.map((d) => d.id)).toEqual(['c', 'b'])
    vi.unstubAllGlobals()
  })

  it('auth resumes a sign-in from the refresh cookie once, and asks for a TOTP code', async () => {
    accessToken.value = null
    const calls: string[] = []
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string, init?: RequestInit) => {
        calls.push(`${init?.method} ${url}`)
        if (url === '/api/auth/refresh') return json(200, { access_token: 'fresh' })
        if (url === '/api/me') return json(200, { id: 'u1', handle: 'erin', role: 'user' })
        if (url === '/api/auth/login') return json(200, { totp_required: true })
        return json(404, {})
      }),
    )
    const auth = useAuth()
    await Promise.all([auth.restore(), auth.restore()])
    expect(auth.user?.handle).toBe('erin')
    expect(accessToken.value).toBe('fresh')
    expect(calls).toEqual(['POST /api/auth/refresh', 'GET /api/me'])
    await expect(auth.login('erin', 'pw')).resolves.toBe('totp')
    vi.unstubAllGlobals()
  })
})
