/**
 * The schema of any JSON object (properties, traits, context...), typed as a record. Not
 * `t.Record(t.String(), t.Unknown())`: its compiled check lists every key and tests it against a
 * pattern (about 1 µs per event, for nothing: a JSON object's keys are strings), where this one
 * checks that the value is an object and stops.
 */
import { t } from "elysia";
import type { ObjectOptions } from "@sinclair/typebox";

export const jsonObject = (options: ObjectOptions = {}) => t.Unsafe<Record<string, unknown>>(t.Object({}, { ...options, additionalProperties: true }));
