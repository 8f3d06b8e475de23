/**
 * Inlet is MIT, and what it ships is under permissive licences. The README's table of what ships
 * inside the binary names every runtime dependency with the
 * licence its package declares, so that a new or upgraded dependency (say, one that changes its
 * licence) cannot slip into the binary without the table saying so.
 */
import { expect, test } from "bun:test";
import { ALLOWED_LICENSES, checkLicenses } from "../scripts/licenses.ts";

test("the README lists every runtime dependency with the licence its package declares", async () => {
  const readme = await Bun.file(new URL("../README.md", import.meta.url)).text();
  const section = readme.slice(readme.indexOf("## Licenses of what ships inside"));
  expect(section.length).toBeLessThan(readme.length);
  const { dependencies } = (await Bun.file(new URL("../package.json", import.meta.url)).json()) as { dependencies: Record<string, string> };
  const rows = new Map([...section.matchAll(/^\| `([^`]+)` \| ([^|]+) \|/gm)].map((m) => [m[1]!, m[2]!.trim()]));
  for (const name of Object.keys(dependencies)) {
    // Read, not imported: importing would load modules that other tests check stay unloaded.
    const { license } = (await Bun.file(require.resolve(`${name}/package.json`)).json()) as { license?: string };
    expect({ name, license: rows.get(name) }).toEqual({ name, license: license ?? "(none declared)" });
  }
  // And nothing listed that is not a dependency any more.
  expect([...rows.keys()].filter((name) => !(name in dependencies))).toEqual([]);
});

test("Inlet itself is MIT: LICENSE, and the licence field of the server's and the SDK's package.json", async () => {
  const text = await Bun.file(new URL("../LICENSE", import.meta.url)).text();
  expect(text).toStartWith("MIT License\n\nCopyright (c) 2026 Inlet contributors\n");
  for (const file of ["../package.json", "../sdk/package.json"]) {
    expect(((await Bun.file(new URL(file, import.meta.url)).json()) as { license?: string }).license).toBe("MIT");
  }
});

test("the licence check (CI runs it) passes, and fails on a transitive dependency whose licence is not allowed", () => {
  const passing = checkLicenses();
  expect({ code: passing.code, output: passing.output }).toMatchObject({ code: 0 });
  // shimmer (BSD-2-Clause) is not a direct dependency: it comes with the OpenTelemetry packages.
  const failing = checkLicenses(ALLOWED_LICENSES.filter((license) => license !== "BSD-2-Clause"));
  expect(failing.code).not.toBe(0);
  expect(failing.output).toContain('"shimmer@');
  expect(failing.output).toContain("BSD-2-Clause");
});
