// Errors from the API as people should see them: every answer that is not 2xx becomes an
// ApiError with the server's stable `code` and a readable `message`, never raw JSON.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

/** Reads `{"error":{"code","message"}}`; anything else (a proxy's HTML page, an empty body)
 * becomes a message that names the status instead of showing the body. */
export async function errorFrom(resp: Response): Promise<ApiError> {
  try {
    const body = (await resp.json()) as { error?: { code?: string; message?: string } }
    if (body?.error?.code && body.error.message) {
      return new ApiError(resp.status, body.error.code, body.error.message)
    }
  } catch {
    // not JSON: fall through
  }
  const message =
    resp.status >= 500
      ? 'The server could not answer right now. Try again in a moment.'
      : `The request failed (HTTP ${resp.status}).`
  return new ApiError(resp.status, `http_${resp.status}`, message)
}

/** A network failure (offline, server down) as an ApiError too, so callers handle one type. */
export function networkError(cause: unknown): ApiError {
  const err = new ApiError(0, 'network_error', 'DocuVault cannot be reached. Check your connection.')
  ;(err as { cause?: unknown }).cause = cause
  return err
}
