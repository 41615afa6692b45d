// Fake QuickBooks objects shaped like the v3 JSON the real API returns (minor version 75), so
// mappers written against the simulator survive contact with a real company file.
import { fakePerson, fakeProductName } from '../common/prng.ts'
import type { Prng } from '../common/prng.ts'
import { formatIntuitDate, DAY_MS } from './quickbooks-time.ts'

export type QboObject = Record<string, unknown>

export const CURRENCY_NAMES: Record<string, string> = {
  USD: 'United States Dollar',
  GBP: 'British Pound Sterling',
  CAD: 'Canadian Dollar',
  AUD: 'Australian Dollar',
  EUR: 'Euro',
}

export function currencyRef(code: string): QboObject {
  return { value: code, name: CURRENCY_NAMES[code] ?? code }
}

/** QuickBooks amounts are JSON decimals; integer cents divided by 100 print as the exact decimal. */
export function money(cents: number): number {
  return cents / 100
}

export interface SeedRefs {
  customer: { id: string; name: string } | null
  items: Array<{ id: string; name: string; unitCents: number }>
  invoice: { id: string; cents: number } | null
}

export function buildCustomer(rng: Prng, index: number, currency: string): QboObject {
  const person = fakePerson(rng, index)
  const displayName = `${person.givenName} ${person.familyName} ${index}`
  const company = rng.next() < 0.3 ? `${person.familyName} Productions` : undefined
  return {
    Taxable: false,
    Job: false,
    BillWithParent: false,
    Balance: 0,
    BalanceWithJobs: 0,
    CurrencyRef: currencyRef(currency),
    PreferredDeliveryMethod: 'Print',
    IsProject: false,
    GivenName: person.givenName,
    FamilyName: person.familyName,
    FullyQualifiedName: displayName,
    ...(company ? { CompanyName: company } : {}),
    DisplayName: displayName,
    PrintOnCheckName: company ?? `${person.givenName} ${person.familyName}`,
    Active: true,
    PrimaryPhone: { FreeFormNumber: person.phone },
    PrimaryEmailAddr: { Address: person.email },
  }
}

export function buildItem(rng: Prng, index: number): QboObject {
  const name = fakeProductName(rng, index)
  // Unit prices may carry more than two decimals in QuickBooks; a few do here too.
  const unitPrice = rng.next() < 0.05 ? rng.int(1000, 99999) / 1000 : money(rng.int(100, 20000))
  return {
    Name: name,
    Description: `${name} for the venue`,
    Active: true,
    FullyQualifiedName: name,
    Taxable: false,
    UnitPrice: unitPrice,
    Type: 'Service',
    IncomeAccountRef: { value: '79', name: 'Sales of Product Income' },
    PurchaseCost: 0,
    TrackQtyOnHand: false,
  }
}

export function buildInvoice(rng: Prng, docNumber: number, createdMs: number, currency: string, refs: SeedRefs, nowMs: number): QboObject {
  const lines: QboObject[] = []
  let totalCents = 0
  const lineCount = rng.int(1, 3)
  for (let n = 1; n <= lineCount; n++) {
    const item = refs.items.length > 0 ? rng.pick(refs.items) : null
    const unitCents = item?.unitCents ?? rng.int(500, 15000)
    const qty = rng.int(1, 4)
    const amountCents = unitCents * qty
    totalCents += amountCents
    lines.push({
      Id: String(n),
      LineNum: n,
      Amount: money(amountCents),
      DetailType: 'SalesItemLineDetail',
      SalesItemLineDetail: {
        ...(item ? { ItemRef: { value: item.id, name: item.name } } : {}),
        UnitPrice: money(unitCents),
        Qty: qty,
        TaxCodeRef: { value: 'NON' },
      },
    })
  }
  lines.push({ Amount: money(totalCents), DetailType: 'SubTotalLineDetail', SubTotalLineDetail: {} })
  const dueMs = createdMs + 30 * DAY_MS
  const paid = rng.next() < 0.5
  return {
    AllowIPNPayment: false,
    AllowOnlinePayment: false,
    AllowOnlineCreditCardPayment: false,
    AllowOnlineACHPayment: false,
    DocNumber: String(docNumber),
    TxnDate: formatIntuitDate(createdMs),
    CurrencyRef: currencyRef(currency),
    LinkedTxn: [],
    Line: lines,
    TxnTaxDetail: { TotalTax: 0 },
    ...(refs.customer ? { CustomerRef: { value: refs.customer.id, name: refs.customer.name } } : {}),
    DueDate: formatIntuitDate(dueMs),
    TotalAmt: money(totalCents),
    ApplyTaxAfterDiscount: false,
    PrintStatus: 'NeedToPrint',
    EmailStatus: dueMs < nowMs ? 'EmailSent' : 'NotSet',
    Balance: paid ? 0 : money(totalCents),
  }
}

export function buildPayment(rng: Prng, createdMs: number, currency: string, refs: SeedRefs): QboObject {
  const cents = refs.invoice?.cents ?? rng.int(500, 50000)
  return {
    ...(refs.customer ? { CustomerRef: { value: refs.customer.id, name: refs.customer.name } } : {}),
    DepositToAccountRef: { value: '4' },
    TotalAmt: money(cents),
    UnappliedAmt: refs.invoice ? 0 : money(cents),
    ProcessPayment: false,
    TxnDate: formatIntuitDate(createdMs),
    CurrencyRef: currencyRef(currency),
    Line: refs.invoice ? [{ Amount: money(cents), LinkedTxn: [{ TxnId: refs.invoice.id, TxnType: 'Invoice' }] }] : [],
  }
}
