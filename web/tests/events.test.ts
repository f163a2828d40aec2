import { describe, expect, it } from 'vitest'
import { SseParser } from '../src/api/events'

describe('SseParser', () => {
  it('splits events across chunks and skips comments', () => {
    const p = new SseParser()
    expect(p.push('event: ready\nretry: 3000\ndata: {}\n\n: keep-alive\n\nevent: docu')).toEqual([
      { event: 'ready', data: '{}' },
    ])
    expect(p.push('ment\ndata: {"document_id":"d1","change":"created","status":"pending"}\n\n')).toEqual([
      { event: 'document', data: '{"document_id":"d1","change":"created","status":"pending"}' },
    ])
  })

  it('joins multi-line data and accepts CRLF', () => {
    const p = new SseParser()
    expect(p.push('data: a\r\ndata: b\r\n\r\n')).toEqual([{ event: 'message', data: 'a\nb' }])
  })
})
