// Small schema building blocks every service's TypeBox schemas share.
import { Type, type SchemaOptions, type TSchema } from '@sinclair/typebox'

/** A string from a fixed list, typed as the literal union (and `enum` in the JSON Schema). */
export function StringEnum<const T extends readonly string[]>(values: T, options: SchemaOptions = {}) {
  return Type.Unsafe<T[number]>({ ...options, type: 'string', enum: [...values] })
}

/** The schema, or null. */
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])

export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
export const UuidString = Type.String({ pattern: UUID_PATTERN })
