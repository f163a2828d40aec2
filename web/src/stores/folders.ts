// The signed-in user's folder tree (a flat list from GET /api/folders; each names its parent).

import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { api, type Schemas } from '../api/session'

export type Folder = Schemas['FolderDto']

export const useFolders = defineStore('folders', () => {
  const all = ref<Folder[]>([])
  const byId = computed(() => new Map(all.value.map((f) => [f.id, f])))

  async function load(): Promise<void> {
    all.value = await api.request<Folder[]>('GET', '/api/folders')
  }

  /** The folders from the top down to `id` (for breadcrumbs). */
  function path(id: string | null): Folder[] {
    const out: Folder[] = []
    for (let f = id ? byId.value.get(id) : undefined; f && out.length < 64; f = f.parent_id ? byId.value.get(f.parent_id) : undefined) {
      out.unshift(f)
    }
    return out
  }

  /** Depth-first, each with its depth, for an indented tree or a select. */
  const tree = computed(() => {
    const children = new Map<string | null, Folder[]>()
    for (const f of all.value) {
      const key = f.parent_id ?? null
      children.set(key, [...(children.get(key) ?? []), f])
    }
    const out: Array<{ folder: Folder; depth: number }> = []
    const walk = (parent: string | null, depth: number) => {
      for (const f of children.get(parent) ?? []) {
        out.push({ folder: f, depth })
        if (depth < 64) walk(f.id, depth + 1)
      }
    }
    walk(null, 0)
    return out
  })

  async function create(name: string, parent: string | null): Promise<Folder> {
    const f = await api.request<Folder>('POST', '/api/folders', { body: { name, parent_id: parent } })
    await load()
    return f
  }

  async function update(id: string, body: Schemas['FolderPatchDto']): Promise<void> {
    await api.request('PATCH', `/api/folders/${id}`, { body })
    await load()
  }

  async function remove(id: string, contents: 'move_to_parent' | 'delete'): Promise<void> {
    await api.request('DELETE', `/api/folders/${id}?contents=${contents}`)
    await load()
  }

  return { all, byId, tree, load, path, create, update, remove }
})
