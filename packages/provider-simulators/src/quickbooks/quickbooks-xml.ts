// QuickBooks answers in XML unless the client asks for JSON (`Accept: application/json`). The
// simulator renders a generic XML form of the same payload: enough for a client that forgot the
// header to fail the way it would against Intuit, not a schema-exact rendering.
import type { QboObject } from './quickbooks-seed.ts'

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

function element(name: string, value: unknown): string {
  if (value === null || value === undefined) return ''
  if (Array.isArray(value)) return value.map((item) => element(name, item)).join('')
  if (typeof value === 'object') {
    const inner = Object.entries(value as QboObject)
      .map(([key, child]) => element(key, child))
      .join('')
    return `<${name}>${inner}</${name}>`
  }
  return `<${name}>${escape(String(value))}</${name}>`
}

export function toIntuitXml(payload: QboObject): string {
  const { time, ...rest } = payload
  const inner = Object.entries(rest)
    .map(([key, value]) => element(key, value))
    .join('')
  const timeAttribute = typeof time === 'string' ? ` time="${escape(time)}"` : ''
  return `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<IntuitResponse xmlns="http://schema.intuit.com/finance/v3"${timeAttribute}>${inner}</IntuitResponse>`
}
