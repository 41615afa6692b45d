// One HTTP attempt of one message: check the URL again (the name may resolve elsewhere since
// registration), connect to the checked address only, sign, POST, keep the status, the latency
// and at most 1 KiB of the answer. Redirects are never followed: a 3xx is a failed attempt.
import { request } from 'undici'
import { signedHeaders } from './signature.ts'
import { pinnedDispatcher, UrlRefusedError, type UrlGuard } from './url-guard.ts'

export const SNIPPET_BYTES = 1024

export interface DeliveryResult {
  outcome: 'succeeded' | 'failed' | 'refused'
  responseStatus: number | null
  latencyMs: number
  responseSnippet: string | null
  /** Why it failed, in words safe to store and show (no secret, no header of ours). */
  error: string | null
  refusal?: UrlRefusedError
}

export interface DeliveryInput {
  url: string
  messageId: string
  body: string
  secrets: string[]
}

async function readSnippet(body: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    chunks.push(chunk)
    size += chunk.length
    if (size >= SNIPPET_BYTES) break
  }
  // Cut on bytes, then drop a character split in half. NUL becomes U+FFFD: Postgres text refuses
  // it (22021), and a receiver's reply must never keep its attempt from being recorded.
  return Buffer.concat(chunks)
    .subarray(0, SNIPPET_BYTES)
    .toString('utf8')
    .replace(/\uFFFD+$/, '')
    .replaceAll('\0', '\uFFFD')
}

export function createDeliverer(deps: { guard: UrlGuard; timeoutMs: number; now?: () => number }) {
  const now = deps.now ?? Date.now

  return async function deliver(input: DeliveryInput): Promise<DeliveryResult> {
    const started = performance.now()
    const elapsed = () => Math.max(0, Math.round(performance.now() - started))
    let checked
    try {
      checked = await deps.guard.check(input.url)
    } catch (error) {
      if (error instanceof UrlRefusedError) return { outcome: 'refused', responseStatus: null, latencyMs: elapsed(), responseSnippet: null, error: `URL refused: ${error.reason}${error.range ? ` (${error.range})` : ''}`, refusal: error }
      throw error
    }
    const timestamp = Math.floor(now() / 1000)
    const dispatcher = pinnedDispatcher(checked.pinned, deps.timeoutMs)
    try {
      const response = await request(checked.url, {
        method: 'POST',
        dispatcher,
        headers: { 'content-type': 'application/json', 'user-agent': 'venue-integration-hub-webhooks/1', ...signedHeaders(input.secrets, input.messageId, timestamp, input.body) },
        body: input.body,
        // undici's request never follows redirects (that takes the redirect interceptor, not used here).
        signal: AbortSignal.timeout(deps.timeoutMs),
      })
      let snippet: string | null = null
      try {
        snippet = await readSnippet(response.body)
      } catch {
        snippet = null
      } finally {
        response.body.destroy()
      }
      const status = response.statusCode
      const ok = status >= 200 && status < 300
      const error = ok ? null : status >= 300 && status < 400 ? `redirect not followed (HTTP ${status})` : `HTTP ${status}`
      return { outcome: ok ? 'succeeded' : 'failed', responseStatus: status, latencyMs: elapsed(), responseSnippet: snippet, error }
    } catch (error) {
      const name = (error as Error).name
      const code = (error as { code?: string }).code
      const reason = name === 'TimeoutError' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' ? `timed out after ${deps.timeoutMs} ms` : `connection failed (${code ?? name})`
      return { outcome: 'failed', responseStatus: null, latencyMs: elapsed(), responseSnippet: null, error: reason }
    } finally {
      void dispatcher.close().catch(() => undefined)
    }
  }
}

export type Deliverer = ReturnType<typeof createDeliverer>
