// A TypeBox union of string literals from a readonly tuple (ALERT_TYPES, INTERVALS, ...), typed
// as the tuple's members: Type.Union(values.map(Type.Literal)) alone loses the member types.
import { Type, type SchemaOptions, type TLiteral, type TUnion } from '@sinclair/typebox';

export function Literals<const T extends readonly string[]>(values: T, options?: SchemaOptions): TUnion<{ -readonly [K in keyof T]: TLiteral<T[K]> }> {
  return Type.Union(values.map((v) => Type.Literal(v)), options) as unknown as TUnion<{ -readonly [K in keyof T]: TLiteral<T[K]> }>;
}
