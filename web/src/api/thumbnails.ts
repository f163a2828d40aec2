// The media token for thumbnails (`<img src>` cannot send the bearer token): fetched once,
// reused until shortly before it expires (it stays the same within an hour, so the browser's
// cache keeps the images).
import { api, type Schemas } from './session'

let current: Schemas['MediaTokenDto'] | null = null
let pending: Promise<string | null> | null = null

export async function thumbnailToken(): Promise<string | null> {
  if (current && Date.parse(current.expires_at) - Date.now() > 60_000) return current.token
  pending ??= api
    .request<Schemas['MediaTokenDto']>('GET', '/api/me/thumbnail-token')
    .then((t) => {
      current = t
      return t.token
    })
    .catch(() => null)
    .finally(() => {
      pending = null
    })
  return pending
}

export function thumbnailUrl(documentId: string, token: string): string {
  return `/api/documents/${documentId}/thumbnail?token=${encodeURIComponent(token)}`
}
