// Mailchimp's only documented throttle: at most 10 simultaneous connections per account, beyond
// which it answers 429. It is a concurrency cap, not a request window, so common/'s fixed-window
// RequestRateLimiter does not model it; this counts requests in flight instead.
import type { FastifyReply } from 'fastify'

export class ConnectionLimiter {
  readonly limit: number
  #inFlight = new Map<string, number>()

  constructor(limit: number) {
    this.limit = limit
  }

  /** Takes a slot for the request until its response closes; false when the account is at the cap. */
  acquire(account: string, reply: FastifyReply): boolean {
    const current = this.#inFlight.get(account) ?? 0
    if (current >= this.limit) return false
    this.#inFlight.set(account, current + 1)
    reply.raw.once('close', () => {
      const left = (this.#inFlight.get(account) ?? 1) - 1
      if (left <= 0) this.#inFlight.delete(account)
      else this.#inFlight.set(account, left)
    })
    return true
  }

  inFlight(account: string): number {
    return this.#inFlight.get(account) ?? 0
  }
}
