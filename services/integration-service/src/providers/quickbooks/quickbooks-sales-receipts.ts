// Hub payments pushed as QuickBooks sales receipts. Each receipt's `key` becomes Intuit's
// `requestid`, so a batch re-sent after a timeout or a crash returns the receipts created the
// first time instead of duplicating them. Receipts QuickBooks refuses (validation, unknown
// customer) are reported per key; auth, throttling and outages abort the batch for the sync
// engine to retry, which is safe for the same reason.
import { createHash } from 'node:crypto'
import type { PushResult, SalesReceiptPush } from '../provider-adapter.ts'
import { ProviderInvalidError, ProviderNotFoundError } from '../provider-errors.ts'
import type { QuickBooksClient } from './quickbooks-client.ts'
import { minorToDecimal } from './quickbooks-money.ts'

/** Intuit caps requestid at 50 characters; longer keys are hashed (still deterministic). */
export function requestIdFor(key: string): string {
  if (/^[\x21-\x7e]{1,50}$/.test(key)) return key
  return createHash('sha256').update(key).digest('hex').slice(0, 40)
}

function validate(receipt: SalesReceiptPush): string | null {
  if (!receipt.key) return 'key is required'
  if (!Number.isSafeInteger(receipt.amount) || receipt.amount < 0) return 'amount must be a non-negative integer of minor units'
  if (!/^[A-Za-z]{3}$/.test(receipt.currency)) return 'currency must be an ISO 4217 code'
  if (!/^\d{4}-\d{2}-\d{2}/.test(receipt.date)) return 'date must start with YYYY-MM-DD'
  return null
}

export function salesReceiptBody(receipt: SalesReceiptPush, itemId: string | undefined): Record<string, unknown> {
  const currency = receipt.currency.toUpperCase()
  const amount = minorToDecimal(receipt.amount, currency)
  return {
    TxnDate: receipt.date.slice(0, 10),
    CurrencyRef: { value: currency },
    PrivateNote: receipt.description.slice(0, 4000),
    ...(receipt.customerExternalId ? { CustomerRef: { value: receipt.customerExternalId } } : {}),
    Line: [
      {
        Amount: amount,
        DetailType: 'SalesItemLineDetail',
        Description: receipt.description.slice(0, 4000),
        SalesItemLineDetail: { ...(itemId ? { ItemRef: { value: itemId } } : {}), Qty: 1, UnitPrice: amount },
      },
    ],
  }
}

export async function pushSalesReceipts(client: QuickBooksClient, receipts: SalesReceiptPush[], itemId: string | undefined): Promise<PushResult> {
  const result: PushResult = { succeeded: 0, failed: [] }
  // Sequential: Intuit allows 10 concurrent requests per realm, shared with any sync running.
  for (const receipt of receipts) {
    const problem = validate(receipt)
    if (problem) {
      result.failed.push({ key: receipt.key, code: 'invalid', message: problem })
      continue
    }
    try {
      await client.post('/salesreceipt', salesReceiptBody(receipt, itemId), { requestid: requestIdFor(receipt.key) })
      result.succeeded++
    } catch (error) {
      if (error instanceof ProviderInvalidError || error instanceof ProviderNotFoundError) {
        result.failed.push({ key: receipt.key, code: error.providerCode ?? error.kind, message: error.message })
        continue
      }
      throw error
    }
  }
  return result
}
