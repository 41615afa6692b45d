// The console's only way to the hub: @hub/api-client, the typed client the system tests use too
// (openapi-fetch over the types generated from the merged OpenAPI document), with the signed-in
// user's token added to every call. Failures become ApiError, whose message is written for a
// person and carries the request id to quote.
import { createApiClient } from '@hub/api-client'
import { currentToken, signOut } from '../auth/session.ts'

export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly requestId: string | null
  constructor(status: number, code: string, message: string, requestId: string | null) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.requestId = requestId
  }
}

interface Problem {
  code?: string
  detail?: string
  requestId?: string
  errors?: { path: string; message: string }[]
}

/** What a person should read for a refusal, from its status and the problem the API returned. */
export function plainWords(status: number, problem: Problem): string {
  const detail = problem.detail ? ` ${problem.detail}` : ''
  if (status === 400) return `Some of what was entered is not valid.${detail}${problem.errors?.length ? ` (${problem.errors.map((e) => `${e.path || 'value'}: ${e.message}`).join('; ')})` : ''}`
  if (status === 401) return 'Your sign-in has expired or is not valid. Please sign in again.'
  if (status === 403) return `You do not have permission to do this.${detail}`
  if (status === 404) return `That could not be found; it may have been removed.${detail}`
  if (status === 409) return `This clashes with the current state.${detail}`
  if (status === 413) return 'That is too large to send.'
  if (status === 422) return `The provider refused it.${detail}`
  if (status === 429) return 'Too many requests in a short time. Wait a moment and try again.'
  if (status === 503 || status === 504) return 'Part of the hub is not answering right now. Try again in a moment.'
  if (status >= 500) return 'Something went wrong in the hub. Try again, and quote the request id if it keeps happening.'
  return `The request failed (${status}).${detail}`
}

export const api = createApiClient(globalThis.location?.origin ?? '', currentToken)

type Result<T> = { data?: T; error?: unknown; response: Response }

/** The data of a successful call, or an ApiError in plain words. */
export async function call<T>(pending: Promise<Result<T>>): Promise<T> {
  let result: Result<T>
  try {
    result = await pending
  } catch {
    throw new ApiError(0, 'NETWORK', 'The hub could not be reached. Check your connection and try again.', null)
  }
  const { response } = result
  if (response.ok) return result.data as T
  const problem = (typeof result.error === 'object' && result.error !== null ? result.error : {}) as Problem
  const requestId = problem.requestId ?? response.headers.get('x-request-id')
  if (response.status === 401) signOut()
  throw new ApiError(response.status, problem.code ?? `HTTP_${response.status}`, plainWords(response.status, problem), requestId)
}

/** A CSV (or other text) download through the same auth, saved with the given file name. */
export async function download(path: string, fileName: string, accept = 'text/csv'): Promise<void> {
  const token = currentToken()
  const response = await fetch(path, { headers: { accept, ...(token ? { authorization: `Bearer ${token}` } : {}) } })
  if (!response.ok) {
    const problem = (await response.json().catch(() => ({}))) as Problem
    throw new ApiError(response.status, problem.code ?? `HTTP_${response.status}`, plainWords(response.status, problem), problem.requestId ?? response.headers.get('x-request-id'))
  }
  const url = URL.createObjectURL(await response.blob())
  const link = document.createElement('a')
  link.href = url
  link.download = fileName
  link.click()
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}
