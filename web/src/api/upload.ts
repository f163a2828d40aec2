// Uploads with progress. A file goes straight to the object store through a presigned
// reservation (POST /api/uploads, one PUT per part, complete); if the browser cannot reach the
// store (no S3_PUBLIC_ENDPOINT set for it), the reservation is cancelled and the file goes
// through the API instead (POST /api/documents/upload), as it does when the owner keeps new
// documents in their own cloud. Either way the quota holds.

import { ApiError, errorFrom } from './errors'
import { api, type Schemas } from './session'

type Document = Schemas['DocumentDto']
type Ticket = Schemas['UploadDto']

export type Progress = (sent: number, total: number) => void

/** PUTs `body` to `url`; resolves with the status (0: the request never got an answer). */
function put(url: string, body: Blob, onSent: (n: number) => void): Promise<number> {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest()
    xhr.open('PUT', url)
    xhr.upload.onprogress = (e) => onSent(e.loaded)
    xhr.onload = () => resolve(xhr.status)
    xhr.onerror = () => resolve(0)
    xhr.send(body)
  })
}

async function sendParts(ticket: Ticket, file: File, progress: Progress): Promise<number> {
  const sent = new Map<number, number>()
  const report = () => progress([...sent.values()].reduce((a, b) => a + b, 0), file.size)
  const queue = [...ticket.parts]
  let failure = 200
  // Two parts at a time, as the server sends its own multipart uploads.
  const worker = async () => {
    for (let part = queue.shift(); part && failure === 200; part = queue.shift()) {
      const slice = file.slice(part.offset, part.offset + part.size)
      const status = await put(part.url, slice, (n) => {
        sent.set(part!.number, n)
        report()
      })
      if (status !== 200) failure = status
      else sent.set(part.number, part.size)
    }
  }
  await Promise.all([worker(), worker()])
  report()
  return failure
}

function direct(file: File, progress: Progress): Promise<Document> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open('POST', '/api/documents/upload')
    const token = api.token()
    if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`)
    xhr.upload.onprogress = (e) => progress(e.loaded, e.total || file.size)
    xhr.onload = async () => {
      const resp = new Response(xhr.responseText, { status: xhr.status })
      if (xhr.status === 201) resolve((await resp.json()) as Document)
      else reject(await errorFrom(resp))
    }
    xhr.onerror = () => reject(new ApiError(0, 'network_error', 'The upload was interrupted.'))
    const form = new FormData()
    form.append('file', file, file.name)
    xhr.send(form)
  })
}

export async function uploadFile(file: File, progress: Progress): Promise<Document> {
  let ticket: Ticket
  try {
    ticket = await api.request<Ticket>('POST', '/api/uploads', {
      body: { filename: file.name, size: file.size, content_type: file.type || null },
    })
  } catch (e) {
    // New documents are kept in the owner's own cloud: they go through the API.
    if (e instanceof ApiError && e.code === 'direct_upload_unavailable') return direct(file, progress)
    throw e
  }
  const status = await sendParts(ticket, file, progress)
  if (status !== 200) {
    await api.request('DELETE', `/api/uploads/${ticket.id}`).catch(() => undefined)
    if (status === 0) return direct(file, progress)
    throw new ApiError(status, 'upload_failed', `The storage refused the file (HTTP ${status}).`)
  }
  return api.request<Document>('POST', `/api/uploads/${ticket.id}/complete`)
}
