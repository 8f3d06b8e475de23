import { expect, test } from "bun:test";
import { hash, uuid } from "../src/util";

const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test("uuid() is a v4 UUID, also where crypto.randomUUID is missing (pages on plain http)", () => {
  expect(uuid()).toMatch(UUID4);
  const real = crypto.randomUUID;
  try {
    (crypto as any).randomUUID = undefined;
    const ids = Array.from({ length: 200 }, uuid);
    for (const id of ids) expect(id).toMatch(UUID4);
    expect(new Set(ids).size).toBe(200);
  } finally {
    (crypto as any).randomUUID = real;
  }
});

test("storage keys are namespaced by a stable hash of the write key", () => {
  expect(hash("wk_a")).toBe(hash("wk_a"));
  expect(hash("wk_a")).not.toBe(hash("wk_b"));
  expect(hash("wk_a")).toMatch(/^[0-9a-z]+$/);
});
