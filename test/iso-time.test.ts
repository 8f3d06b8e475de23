/** readIsoTime: the ISO 8601 forms client libraries write, and what is unreadable. */
import { describe, expect, test } from "bun:test";
import { readIsoTime } from "../src/pipeline/normalize";

const at = Date.UTC(2026, 11, 5, 18, 1, 52, 198);

describe("readIsoTime", () => {
  test.each([
    ["2026-12-05T18:01:52.198Z", at],
    ["2026-12-05T18:01:52.198123+00:00", at],
    ["2026-12-05T18:01:52.1981234", at],
    ["2026-12-05T20:01:52.198123456+02:00", at],
    ["2026-12-05T13:01:52.198-0500", at],
    ["2026-12-05T19:01:52,198+01", at],
    ["2026-12-05 18:01:52.198z", at],
    ["2015-2-02T00:30:08.276Z", Date.UTC(2015, 1, 2, 0, 30, 8, 276)],
    ["2026-12-5T8:1:5Z", Date.UTC(2026, 11, 5, 8, 1, 5)],
    ["2026-12-05T18:01Z", Date.UTC(2026, 11, 5, 18, 1)],
    ["2026-12-05", Date.UTC(2026, 11, 5)],
    ["2026-12-05T18:01:52.Z", Date.UTC(2026, 11, 5, 18, 1, 52)],
    ["2026-12-31T23:59:60Z", Date.UTC(2026, 11, 31, 23, 59, 59, 999)],
    ["2026-12-05T24:00:00Z", Date.UTC(2026, 11, 6)],
  ])("%s is read", (text, expected) => {
    expect(readIsoTime(text)).toBe(expected);
  });

  test.each([
    "yesterday",
    "",
    "2026-13-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-12-05T25:00:00Z",
    "2026-12-05T18:60:00Z",
    "2026-12-05T24:00:01Z",
    "2026-12-05T18:01:52+24:00",
    "1733421712198",
    "05/12/2026 18:01",
    "2026-12-05T18:01:52.1234567890Z",
  ])("%p is unreadable", (text) => {
    expect(readIsoTime(text)).toBeNull();
  });
});
