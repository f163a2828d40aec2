// Live document changes from `GET /api/events`, read with fetch (so the access token travels
// in the Authorization header, never in a URL) and parsed as server-sent events. When the
// stream drops, the app polls until it can reconnect; when the server says `reauthenticate`
// (the token expired), the client refreshes the token and reconnects.

import type { ApiClient } from './client'

export interface DocumentChange {
  document_id: string
  change: 'created' | 'updated' | 'deleted'
  status: string | null
}

export interface ServerEvent {
  event: string
  data: string
}

/** Splits a server-sent event stream into events; feed it text as it arrives. */
export class SseParser {
  private buffer = ''

  push(chunk: string): ServerEvent[] {
    this.buffer += chunk.replace(/\r\n?/g, '\n')
    const events: ServerEvent[] = []
    let end: number
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end)
      this.buffer = this.buffer.slice(end + 2)
      let event = 'message'
      const data: string[] = []
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue
        const colon = line.indexOf(':')
        const field = colon < 0 ? line : line.slice(0, colon)
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
        if (field === 'event') event = value
        else if (field === 'data') data.push(value)
      }
      if (data.length > 0) events.push({ event, data: data.join('\n') })
    }
    return events
  }
}

export interface LiveOptions {
  /** A document changed. */
  onChange(change: DocumentChange): void
  /** Fetch what is shown again (the stream (re)connected, or events may have been missed). */
  onResync(): void
  /** Called every `pollMs` while the stream is down. */
  poll(): void
  pollMs?: number
  retryMs?: number
}

/** Keeps a stream open until `stop()`; falls back to polling while it is down. */
export class LiveUpdates {
  private controller: AbortController | null = null
  private stopped = false
  private pollTimer: ReturnType<typeof setInterval> | null = null

  constructor(
    private readonly client: ApiClient,
    private readonly opts: LiveOptions,
  ) {}

  start(): void {
    this.stopped = false
    void this.loop()
  }

  stop(): void {
    this.stopped = true
    this.controller?.abort()
    this.stopPolling()
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const reauthenticate = await this.readOnce()
      if (this.stopped) return
      if (reauthenticate) {
        // The token expired with the stream: get a new one, then reconnect at once.
        await this.client.refresh()
        continue
      }
      this.startPolling()
      await new Promise((r) => setTimeout(r, this.opts.retryMs ?? 3000))
    }
  }

  /** One connection; true if it ended because the access token expired. */
  private async readOnce(): Promise<boolean> {
    this.controller = new AbortController()
    try {
      const resp = await this.client.open('/api/events', this.controller.signal)
      if (!resp.body) return false
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader()
      const parser = new SseParser()
      for (;;) {
        const { value, done } = await reader.read()
        if (done) return false
        for (const e of parser.push(value)) {
          if (e.event === 'ready' || e.event === 'resync') {
            this.stopPolling()
            this.opts.onResync()
          } else if (e.event === 'document') {
            this.opts.onChange(JSON.parse(e.data) as DocumentChange)
          } else if (e.event === 'reauthenticate') {
            return true
          }
        }
      }
    } catch {
      return false
    }
  }

  private startPolling(): void {
    if (this.pollTimer !== null) return
    this.opts.poll()
    this.pollTimer = setInterval(() => this.opts.poll(), this.opts.pollMs ?? 5000)
  }

  private stopPolling(): void {
    if (this.pollTimer !== null) clearInterval(this.pollTimer)
    this.pollTimer = null
  }
}
