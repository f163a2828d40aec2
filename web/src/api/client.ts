// The one way the app talks to the API. The access token lives only in memory (a Pinia store
// hands it in); on a 401 the client refreshes once through the httpOnly refresh cookie (with
// the CSRF token from the readable `docuvault_csrf` cookie) and retries the request once.
// Refreshes are serialised: within a tab by sharing one in-flight refresh, across tabs by a Web
// Lock, so two tabs never present the same refresh token (the server would take that for theft
// and end the sign-in).

import { ApiError, errorFrom, networkError } from './errors'

export interface TokenStore {
  get(): string | null
  set(token: string | null): void
}

export interface ClientOptions {
  tokens: TokenStore
  /** The CSRF token of the sign-in (default: the `docuvault_csrf` cookie). */
  csrfToken?: () => string | null
  /** Runs `task` while holding a lock shared by every tab (default: the Web Locks API). */
  lock?: <T>(name: string, task: () => Promise<T>) => Promise<T>
  /** Called once a refresh failed: the sign-in is over. */
  onSignedOut?: () => void
  fetch?: typeof fetch
  baseUrl?: string
}

export interface RequestOptions {
  body?: unknown
  /** Send as is (a FormData, a Blob); otherwise `body` is sent as JSON. */
  rawBody?: BodyInit
  signal?: AbortSignal
  /** Send the sign-in's CSRF token (logout, which the refresh cookie authenticates). */
  csrf?: boolean
}

export const REFRESH_LOCK = 'docuvault-refresh'

export function csrfFromCookie(cookies: string = globalThis.document?.cookie ?? ''): string | null {
  for (const part of cookies.split(';')) {
    const [name, ...rest] = part.trim().split('=')
    if (name === 'docuvault_csrf') return decodeURIComponent(rest.join('='))
  }
  return null
}

function webLock<T>(name: string, task: () => Promise<T>): Promise<T> {
  const locks = (globalThis.navigator as Navigator | undefined)?.locks
  return locks ? (locks.request(name, task) as Promise<T>) : task()
}

export class ApiClient {
  private refreshing: Promise<boolean> | null = null

  constructor(private readonly opts: ClientOptions) {}

  /** Looked up per request, not kept: whatever `fetch` the page has now. */
  private get fetchImpl(): typeof fetch {
    return this.opts.fetch ?? globalThis.fetch.bind(globalThis)
  }

  /** Sends a request; answers the parsed JSON (undefined for an empty body). Throws ApiError. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    let resp = await this.send(method, path, options)
    if (resp.status === 401 && this.opts.tokens.get() !== null) {
      if (await this.refresh()) {
        resp = await this.send(method, path, options)
      }
    }
    if (!resp.ok) throw await errorFrom(resp)
    // 204, and answers like the reset request's 202, have no body.
    const text = await resp.text()
    return (text ? JSON.parse(text) : undefined) as T
  }

  /** The raw response of an authenticated request (for streams), refreshing once on a 401. */
  async open(path: string, signal?: AbortSignal): Promise<Response> {
    let resp = await this.send('GET', path, { signal })
    if (resp.status === 401 && (await this.refresh())) {
      resp = await this.send('GET', path, { signal })
    }
    if (!resp.ok) throw await errorFrom(resp)
    return resp
  }

  private async send(method: string, path: string, options: RequestOptions): Promise<Response> {
    const headers: Record<string, string> = {}
    const token = this.opts.tokens.get()
    if (token) headers.Authorization = `Bearer ${token}`
    if (options.csrf) headers['X-CSRF-Token'] = (this.opts.csrfToken ?? csrfFromCookie)() ?? ''
    let body: BodyInit | undefined = options.rawBody
    if (options.body !== undefined) {
      headers['Content-Type'] = 'application/json'
      body = JSON.stringify(options.body)
    }
    try {
      return await this.fetchImpl(`${this.opts.baseUrl ?? ''}${path}`, {
        method,
        headers,
        body,
        credentials: 'same-origin',
        signal: options.signal,
      })
    } catch (e) {
      if ((e as Error)?.name === 'AbortError') throw e
      throw networkError(e)
    }
  }

  /** The current access token (for requests the client cannot make itself: upload progress
   * needs XMLHttpRequest). */
  token(): string | null {
    return this.opts.tokens.get()
  }

  /** Gets a new access token from the refresh cookie; false if the sign-in is over. One
   * refresh at a time in this tab (callers share it) and across tabs (a Web Lock). */
  refresh(): Promise<boolean> {
    this.refreshing ??= this.refreshLocked().finally(() => {
      this.refreshing = null
    })
    return this.refreshing
  }

  private async refreshLocked(): Promise<boolean> {
    const lock = this.opts.lock ?? webLock
    const ok = await lock(REFRESH_LOCK, async () => {
      const csrf = (this.opts.csrfToken ?? csrfFromCookie)()
      if (!csrf) return false
      let resp: Response
      try {
        resp = await this.fetchImpl(`${this.opts.baseUrl ?? ''}/api/auth/refresh`, {
          method: 'POST',
          headers: { 'X-CSRF-Token': csrf },
          credentials: 'same-origin',
        })
      } catch {
        // Offline is not signed out: keep the token, the next request tries again.
        return null
      }
      if (!resp.ok) return false
      const body = (await resp.json()) as { access_token: string }
      this.opts.tokens.set(body.access_token)
      return true
    })
    if (ok === false) {
      this.opts.tokens.set(null)
      this.opts.onSignedOut?.()
    }
    return ok === true
  }
}

export { ApiError }
