// The signed-in user's documents, kept current by the live event stream (api/events.ts): a
// change to one document refetches that one; a resync refetches the first page.

import { defineStore } from 'pinia'
import { reactive, ref } from 'vue'
import type { DocumentChange } from '../api/events'
import { ApiError } from '../api/errors'
import { api, type Schemas } from '../api/session'
import { uploadFile } from '../api/upload'

export type Document = Schemas['DocumentDto']
type Page = Schemas['DocumentPage']

export interface UploadState {
  key: number
  name: string
  sent: number
  total: number
  error: string | null
  done: boolean
}

export const useDocuments = defineStore('documents', () => {
  const items = ref<Document[]>([])
  const nextCursor = ref<string | null>(null)
  const loaded = ref(false)
  const error = ref<string | null>(null)
  const uploads = reactive<UploadState[]>([])
  /** Which documents the list shows: all (null), those in no folder ('root'), or one folder's. */
  const folder = ref<string | null>(null)
  let uploadKey = 0

  function shown(doc: Document): boolean {
    // Documents shared with the user have their own page; this list is their own.
    if (doc.shared_by) return false
    if (folder.value === null) return true
    return folder.value === 'root' ? doc.folder_id == null : doc.folder_id === folder.value
  }

  function query(): string {
    return folder.value === null ? '' : `&folder_id=${encodeURIComponent(folder.value)}`
  }

  /** Shows another folder's documents. */
  async function open(next: string | null): Promise<void> {
    if (next === folder.value && loaded.value) return
    folder.value = next
    items.value = []
    nextCursor.value = null
    loaded.value = false
    await load()
  }

  function put(doc: Document): void {
    const i = items.value.findIndex((d) => d.id === doc.id)
    if (!shown(doc)) {
      if (i >= 0) items.value.splice(i, 1)
      return
    }
    if (i >= 0) items.value[i] = doc
    else items.value = [doc, ...items.value].sort((a, b) => b.created_at.localeCompare(a.created_at))
  }

  async function load(): Promise<void> {
    try {
      const page = await api.request<Page>('GET', `/api/documents?limit=100${query()}`)
      // Keep further pages already shown; the first page is replaced.
      const first = new Set(page.items.map((d) => d.id))
      const older = items.value.filter(
        (d) => !first.has(d.id) && page.items.length > 0 && d.created_at < page.items[page.items.length - 1]!.created_at,
      )
      items.value = [...page.items, ...older]
      if (!loaded.value) nextCursor.value = page.next_cursor ?? null
      loaded.value = true
      error.value = null
    } catch (e) {
      error.value = (e as Error).message
    }
  }

  async function loadMore(): Promise<void> {
    if (!nextCursor.value) return
    const page = await api.request<Page>(
      'GET',
      `/api/documents?limit=100&cursor=${encodeURIComponent(nextCursor.value)}${query()}`,
    )
    items.value = [...items.value, ...page.items.filter((d) => !items.value.some((x) => x.id === d.id))]
    nextCursor.value = page.next_cursor ?? null
  }

  async function refreshOne(id: string): Promise<void> {
    try {
      put(await api.request<Document>('GET', `/api/documents/${id}`))
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) remove(id)
    }
  }

  function remove(id: string): void {
    items.value = items.value.filter((d) => d.id !== id)
  }

  function applyChange(change: DocumentChange): void {
    if (change.change === 'deleted') remove(change.document_id)
    else void refreshOne(change.document_id)
  }

  async function upload(files: File[]): Promise<void> {
    await Promise.all(
      files.map(async (file) => {
        const state = reactive<UploadState>({
          key: ++uploadKey,
          name: file.name,
          sent: 0,
          total: file.size,
          error: null,
          done: false,
        })
        uploads.unshift(state)
        try {
          let doc = await uploadFile(file, (sent, total) => {
            state.sent = sent
            state.total = total
          })
          // Uploaded while a folder is open: filed there.
          const into = folder.value
          if (into !== null && into !== 'root') {
            doc = await api.request<Document>('PATCH', `/api/documents/${doc.id}`, { body: { folder_id: into } })
          }
          state.sent = state.total
          state.done = true
          put(doc)
        } catch (e) {
          state.error = (e as Error).message
        }
      }),
    )
  }

  function dismissUpload(key: number): void {
    const i = uploads.findIndex((u) => u.key === key)
    if (i >= 0) uploads.splice(i, 1)
  }

  async function move(id: string, folderId: string | null): Promise<void> {
    put(await api.request<Document>('PATCH', `/api/documents/${id}`, { body: { folder_id: folderId } }))
  }

  async function destroy(id: string): Promise<void> {
    await api.request('DELETE', `/api/documents/${id}`)
    remove(id)
  }

  return {
    items,
    nextCursor,
    loaded,
    error,
    uploads,
    folder,
    open,
    move,
    load,
    loadMore,
    refreshOne,
    applyChange,
    upload,
    dismissUpload,
    destroy,
    put,
  }
})
