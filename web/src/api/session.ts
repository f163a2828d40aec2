// The app's one API client and the access token it uses. The token lives only here, in memory:
// a reload gets a new one from the refresh cookie (see stores/auth.ts), never from storage.

import { ref } from 'vue'
import { ApiClient } from './client'
import type { components } from './schema'

export type Schemas = components['schemas']

export const accessToken = ref<string | null>(null)

const signedOutHandlers: Array<() => void> = []

/** Runs `handler` when the sign-in ends (a refresh was refused). */
export function onSignedOut(handler: () => void): void {
  signedOutHandlers.push(handler)
}

export const api = new ApiClient({
  tokens: {
    get: () => accessToken.value,
    set: (token) => {
      accessToken.value = token
    },
  },
  onSignedOut: () => signedOutHandlers.forEach((h) => h()),
})
