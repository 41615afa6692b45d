// Raw HTTP over a socket, for what a client library refuses to send (malformed request lines,
// bad percent-encoding, slow or oversized bodies) and to see whether the server hung up.
import net from 'node:net'

export interface RawResponse {
  status: number
  headers: Record<string, string>
  body: string
  /** The server closed the connection after answering (or without answering). */
  closed: boolean
}

function parse(text: string, closed: boolean): RawResponse {
  const split = text.indexOf('\r\n\r\n')
  const head = split >= 0 ? text.slice(0, split) : text
  const [statusLine = '', ...lines] = head.split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  return { status: Number(statusLine.split(' ')[1] ?? 0), headers, body: split >= 0 ? text.slice(split + 4) : '', closed }
}

/**
 * Writes `request` (one chunk, or several) and resolves with the first answer once it is complete
 * (by Content-Length) or the server closes, or after `waitMs` with whatever arrived. Aborting
 * `signal` hangs up from the client's side, as a caller that gives up does.
 */
export function rawRequest(baseUrl: string, request: string | Buffer | Array<string | Buffer>, waitMs = 5_000, signal?: AbortSignal): Promise<RawResponse> {
  const { hostname, port } = new URL(baseUrl)
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname)
    let received = ''
    let done = false
    const finish = (closed: boolean) => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      resolve(parse(received, closed))
    }
    const timer = setTimeout(() => finish(false), waitMs)
    signal?.addEventListener('abort', () => finish(false), { once: true })
    socket.on('connect', () => {
      for (const part of ([] as Array<string | Buffer>).concat(request)) socket.write(part)
    })
    socket.on('data', (data) => {
      received += data.toString('utf8')
      const parsed = parse(received, false)
      const length = Number(parsed.headers['content-length'] ?? NaN)
      // Wait for the close that follows a `connection: close` answer, so callers can see it.
      if (Number.isFinite(length) && Buffer.byteLength(parsed.body) >= length && parsed.headers.connection !== 'close') finish(false)
    })
    socket.on('error', () => finish(true))
    socket.on('close', () => finish(true))
  })
}
