/**
 * The checks on `instrumentSpool`'s arguments: a spool with the methods it reads, a meter or a
 * meter provider (not both), and attributes that are an object of primitive values. Each
 * refusal is a typed `InvalidArgument` naming the argument, thrown synchronously.
 */
import type { Attributes, Meter, MeterProvider } from "@opentelemetry/api";
import { checkFunction, checkOptions } from "@spool/actors";
import { describeValue, InvalidArgument } from "@spool/core";

function invalid(argument: string, rule: string, value: unknown): InvalidArgument {
  return new InvalidArgument({
    argument,
    message: `${argument}: must be ${rule}, not ${describeValue(value)}`,
  });
}

/** Attributes kept per spool: far more would be a caller putting per-message data in them. */
export const ATTRIBUTE_COUNT_MAX = 32;

/** `instrumentSpool`'s options once checked. */
export interface CheckedOptions {
  readonly meter: Meter | undefined;
  readonly meterProvider: MeterProvider | undefined;
  readonly attributes: Attributes;
}

/** An object whose listed members are functions: a spool, a meter, a meter provider. */
export function checkMethods(value: unknown, argument: string, methods: readonly string[]): void {
  if (typeof value !== "object" || value === null) throw invalid(argument, "an object", value);
  for (const method of methods) {
    checkFunction((value as Record<string, unknown>)[method], `${argument}.${method}`);
  }
}

/** The meter, the meter provider and the attributes, checked and copied. */
export function checkTelemetryOptions(options: unknown): CheckedOptions {
  const given = checkOptions(options, ["meter", "meterProvider", "attributes"]);
  if (given.meter !== undefined && given.meterProvider !== undefined) {
    throw new InvalidArgument({
      argument: "options.meter",
      message: "options.meter: give a meter or a meterProvider, not both",
    });
  }
  if (given.meter !== undefined) {
    checkMethods(given.meter, "options.meter", [
      "createHistogram",
      "createCounter",
      "createObservableGauge",
      "createObservableCounter",
      "addBatchObservableCallback",
      "removeBatchObservableCallback",
    ]);
  }
  if (given.meterProvider !== undefined) {
    checkMethods(given.meterProvider, "options.meterProvider", ["getMeter"]);
  }
  return {
    meter: given.meter as Meter | undefined,
    meterProvider: given.meterProvider as MeterProvider | undefined,
    attributes: checkAttributes(given.attributes),
  };
}

/**
 * Attributes set on every point: a plain object of at most {@link ATTRIBUTE_COUNT_MAX} keys,
 * each value a string, a finite number or a boolean. Copied, so a later change to the caller's
 * object changes nothing measured.
 */
export function checkAttributes(value: unknown): Attributes {
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalid("options.attributes", "an object", value);
  }
  let entries: [string, unknown][];
  try {
    entries = Object.entries(value);
  } catch {
    // A revoked Proxy, a getter that throws: refused, not thrown through.
    throw invalid("options.attributes", "an object that can be read", value);
  }
  if (entries.length > ATTRIBUTE_COUNT_MAX) {
    throw invalid("options.attributes", `an object of at most ${ATTRIBUTE_COUNT_MAX} keys`, value);
  }
  const copy: Attributes = {};
  for (const [key, attribute] of entries) {
    const primitive =
      typeof attribute === "string" ||
      typeof attribute === "boolean" ||
      (typeof attribute === "number" && Number.isFinite(attribute));
    if (!primitive) {
      throw invalid(
        `options.attributes.${key}`,
        "a string, a finite number or a boolean",
        attribute,
      );
    }
    copy[key] = attribute;
  }
  return copy;
}
