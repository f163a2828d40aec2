// Who is signed in. The access token stays in memory (api/session.ts); on start the app asks
// the refresh cookie for one, so a reload keeps the sign-in without storing a token anywhere.

import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { accessToken, api, onSignedOut, type Schemas } from '../api/session'

type User = Schemas['UserDto']
type SignIn = Schemas['SignInDto']

export const useAuth = defineStore('auth', () => {
  const user = ref<User | null>(null)
  const ready = ref(false)
  const isAdmin = computed(() => user.value?.role === 'admin')

  onSignedOut(() => {
    user.value = null
  })

  let restoring: Promise<void> | null = null

  /** Resumes the sign-in of an earlier visit, if its refresh cookie is still good. Runs once;
   * every navigation waits for it (the router guard), so the first page knows who is here. */
  function restore(): Promise<void> {
    restoring ??= (async () => {
      try {
        if (await api.refresh()) await loadMe()
      } catch {
        // Offline or the server is down: the sign-in page says so when used.
      } finally {
        ready.value = true
      }
    })()
    return restoring
  }

  async function loadMe(): Promise<void> {
    user.value = await api.request<User>('GET', '/api/me')
  }

  /** Signs in; `'totp'` when the account asks for a second factor (call again with the code). */
  async function login(login: string, password: string, totpCode?: string): Promise<'ok' | 'totp'> {
    const answer = await api.request<SignIn | { totp_required: boolean }>('POST', '/api/auth/login', {
      body: { login, password, ...(totpCode ? { totp_code: totpCode } : {}) },
    })
    if ('totp_required' in answer && answer.totp_required) return 'totp'
    const signedIn = answer as SignIn
    accessToken.value = signedIn.access_token
    user.value = signedIn.user
    return 'ok'
  }

  async function register(handle: string, email: string, password: string): Promise<void> {
    await api.request('POST', '/api/auth/register', { body: { handle, email, password } })
  }

  async function logout(): Promise<void> {
    await api.request('POST', '/api/auth/logout', { csrf: true }).catch(() => undefined)
    accessToken.value = null
    user.value = null
  }

  async function logoutEverywhere(): Promise<void> {
    await api.request('POST', '/api/auth/logout-all')
    await logout()
  }

  return { user, ready, isAdmin, restore, loadMe, login, register, logout, logoutEverywhere }
})
