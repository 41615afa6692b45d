// QuickBooks carries money as JSON decimals (`TotalAmt: 12.29`). Multiplying the parsed double by
// 100 is wrong (12.29 * 100 === 1228.9999999999998), so amounts are converted through their
// decimal text with integer arithmetic instead.

const ZERO_DECIMAL = new Set(['BIF', 'CLP', 'DJF', 'GNF', 'ISK', 'JPY', 'KMF', 'KRW', 'PYG', 'RWF', 'UGX', 'VND', 'VUV', 'XAF', 'XOF', 'XPF'])
const THREE_DECIMAL = new Set(['BHD', 'IQD', 'JOD', 'KWD', 'LYD', 'OMR', 'TND'])

/** Digits after the decimal point of the currency's minor unit (ISO 4217). */
export function currencyExponent(currency: string): number {
  const code = currency.toUpperCase()
  if (ZERO_DECIMAL.has(code)) return 0
  if (THREE_DECIMAL.has(code)) return 3
  return 2
}

/** The shortest decimal text of a double, never in exponent form. */
function plainDecimal(value: number): string {
  const text = String(value)
  if (!/e/i.test(text)) return text
  return value.toLocaleString('en-US', { useGrouping: false, maximumFractionDigits: 20 })
}

/**
 * 12.29 → 1229 (USD), 1500 → 1500 (JPY). More decimals than the currency has (QuickBooks unit
 * prices may carry up to five) are rounded half away from zero, like QuickBooks rounds amounts.
 */
export function decimalToMinor(value: number | string, currency: string): number {
  if (typeof value === 'number' && !Number.isFinite(value)) throw new RangeError(`amount ${value} is not a finite number`)
  const text = typeof value === 'number' ? plainDecimal(value) : value.trim()
  const match = /^([+-])?(\d*)(?:\.(\d*))?$/.exec(text)
  if (!match || (match[2] === '' && (match[3] ?? '') === '')) throw new RangeError(`amount ${JSON.stringify(value)} is not a decimal`)
  const exponent = currencyExponent(currency)
  const whole = match[2] || '0'
  const fraction = match[3] ?? ''
  let minor = BigInt(whole + fraction.padEnd(exponent, '0').slice(0, exponent))
  if ((fraction[exponent] ?? '0') >= '5') minor += 1n
  if (match[1] === '-') minor = -minor
  const result = Number(minor)
  if (!Number.isSafeInteger(result)) throw new RangeError(`amount ${text} ${currency} does not fit in minor units`)
  return result === 0 ? 0 : result
}

/** 1229 → "12.29" (USD); the exact decimal text to send back to QuickBooks. */
export function minorToDecimalString(amount: number, currency: string): string {
  if (!Number.isSafeInteger(amount)) throw new RangeError(`amount ${amount} is not an integer of minor units`)
  const exponent = currencyExponent(currency)
  const digits = String(Math.abs(amount)).padStart(exponent + 1, '0')
  const whole = digits.slice(0, digits.length - exponent)
  const fraction = exponent > 0 ? `.${digits.slice(digits.length - exponent)}` : ''
  return `${amount < 0 ? '-' : ''}${whole}${fraction}`
}

/** The JSON number for a minor amount; JSON.stringify prints it as the exact decimal text. */
export function minorToDecimal(amount: number, currency: string): number {
  return Number(minorToDecimalString(amount, currency))
}
