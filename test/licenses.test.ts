/**
 * The README's table of what ships inside the binary names every runtime dependency with the
 * licence its package declares, so that a new or upgraded dependency (say, one that changes its
 * licence) cannot slip into the binary without the table saying so.
 */
import { expect, test } from "bun:test";

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
