/**
 * The one way Spool names a value it was given in an error message (a payload that is not one,
 * an argument out of range, a fault's thrown value). It never throws and never runs the
 * caller's code where it can help it: `String(value)` throws on an object without a prototype
 * or a revoked Proxy, and a `toString` or getter may throw or lie.
 */

// Long enough to recognise a string, short enough to keep an error message one line.
const SHOWN_STRING_LENGTH_MAX = 40;

/**
 * A short, safe description of any value: a string quoted (cut at 40 characters), a number,
 * bigint, boolean or `undefined` as written, anything else by its kind.
 *
 * @example
 * describeValue(-1) // "-1"
 * describeValue("soon") // "\"soon\""
 * describeValue(new Map()) // "an object (Map)"
 * describeValue(Object.create(null)) // "an object without a prototype"
 */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case "string":
      return JSON.stringify(
        value.length > SHOWN_STRING_LENGTH_MAX
          ? `${value.slice(0, SHOWN_STRING_LENGTH_MAX)}…`
          : value,
      );
    case "number":
    case "boolean":
    case "undefined":
      return String(value);
    case "bigint":
      return `${value}n`;
    case "symbol":
      return "a symbol";
    case "function":
      return "a function";
    default:
      return value === null ? "null" : describeObject(value as object);
  }
}

function describeObject(value: object): string {
  try {
    // Each of these throws on a revoked Proxy; a Proxy's traps or a getter may throw too.
    if (Array.isArray(value)) return "an array";
    const prototype: unknown = Object.getPrototypeOf(value);
    if (prototype === null) return "an object without a prototype";
    const name: unknown = (prototype as { constructor?: { name?: unknown } }).constructor?.name;
    return typeof name === "string" && name !== "Object" && name !== ""
      ? `an object (${name})`
      : "an object";
  } catch {
    return "an object that throws when inspected";
  }
}
