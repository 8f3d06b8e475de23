/**
 * Storage faults on real file systems (mounting needs root; where it is not permitted the tests
 * skip and say why):
 * - a full disk: a size-limited tmpfs filled up. Writes answer 503 with Retry-After, never 200
 *   and never 500; /ready is 503; once space is freed /ready recovers by itself (its probe
 *   commit, no write traffic needed) and writes succeed again.
 * - a file system gone read-only under the server: ext4 on a loop device, turned read-only by
 *   the kernel's own error path (errors=remount-ro), which is how a disk fails in production.
 *   (Root ignores file permissions and a plain `mount -o remount,ro` refuses while the database
 *   is open for writing, so neither can make the fault.) Writes answer 503, /ready is 503, the
 *   process keeps serving, and what was acknowledged before is intact.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, rmSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { cli, tempDir } from "../helpers/server";
import { spawnServer, type ServerProcess } from "../helpers/process";
import { notStoredOnce, storedEvents } from "./stored";

const dir = tempDir("inlet-faults-");
const mounted: string[] = [];
afterAll(() => {
  for (const point of mounted.reverse()) run(["umount", "-l", point]);
  rmSync(dir, { recursive: true, force: true });
});

function run(cmd: string[]): { ok: boolean; output: string } {
  const result = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  return { ok: result.exitCode === 0, output: result.stdout.toString() + result.stderr.toString() };
}

/** Mounts a file system for a test, or says why it cannot. */
function mount(name: string, args: string[]): { point: string } | { skip: string } {
  const point = join(dir, name);
  mkdirSync(point, { recursive: true });
  if (process.getuid?.() !== 0) return { skip: "mounting needs root" };
  const result = run(["mount", ...args, point]);
  if (!result.ok) return { skip: `mount is not permitted here: ${result.output.trim()}` };
  mounted.push(point);
  return { point };
}

const tmpfs = mount("tmpfs", ["-t", "tmpfs", "-o", "size=8m", "tmpfs"]);
const ext4 = (() => {
  const image = join(dir, "ext4.img");
  const made = run(["sh", "-c", `truncate -s 16M ${image} && mkfs.ext4 -q -F -O ^has_journal ${image}`]);
  if (!made.ok) return { skip: `cannot make an ext4 image: ${made.output.trim()}` };
  const result = mount("ext4", ["-o", "loop,errors=remount-ro", image]);
  if ("skip" in result) return result;
  const device = run(["findmnt", "-n", "-o", "SOURCE", result.point]).output.trim().split("/").pop()!;
  const trigger = `/sys/fs/ext4/${device}/trigger_fs_error`;
  if (!run(["test", "-w", trigger]).ok) return { skip: `the kernel offers no ${trigger} to fail the file system with` };
  return { ...result, trigger };
})();
for (const [name, fs] of Object.entries({ tmpfs, ext4 })) if ("skip" in fs) console.log(`storage-faults: ${name} tests skipped: ${fs.skip}`);

async function track(server: ServerProcess, writeKey: string, messageId: string, padding = 0): Promise<Response> {
  return fetch(`${server.url}/v1/events/track`, {
    method: "POST",
    headers: { authorization: `Bearer ${writeKey}`, "content-type": "application/json" },
    body: JSON.stringify({ event: "Fault Test", anonymousId: `v-${messageId}`, messageId, properties: { padding: "x".repeat(padding) } }),
  });
}

async function ready(server: ServerProcess): Promise<{ status: number; body: any }> {
  const response = await fetch(`${server.url}/ready`);
  return { status: response.status, body: await response.json() };
}

test.skipIf("skip" in tmpfs)(
  "a full disk: 503 with Retry-After and /ready false while it lasts; both recover once space is freed",
  { timeout: 120_000 },
  async () => {
    const point = (tmpfs as { point: string }).point;
    const db = join(point, "inlet.db");
    const tenant = JSON.parse((await cli(["tenant", "create", "full"], { INLET_DB: db })).stdout) as { key: string };
    const server = await spawnServer({ INLET_DB: db });
    try {
      const acknowledged: string[] = [];
      for (let i = 0; i < 20; i++) {
        const response = await track(server, tenant.key, `before-${i}`);
        expect(response.status).toBe(200);
        acknowledged.push(`before-${i}`);
      }
      expect((await ready(server)).status).toBe(200);

      // Fill the file system to the last block.
      const filler = join(point, "filler");
      run(["dd", "if=/dev/zero", `of=${filler}`, "bs=64k"]);

      const readiness = await ready(server);
      expect(readiness.status).toBe(503);
      expect(readiness.body.ready).toBe(false);

      // Writes: some may still fit in space SQLite already holds; then 503s, never a 200 that did not commit, never a 500.
      const refused: string[] = [];
      for (let i = 0; i < 300 && refused.length < 5; i++) {
        const response = await track(server, tenant.key, `during-${i}`, 4000);
        const body = await response.json();
        expect([200, 503]).toContain(response.status);
        if (response.status === 200) acknowledged.push(body.messageId);
        else {
          expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
          expect(body.error.code).toBe("unavailable");
          expect(typeof body.requestId).toBe("string");
          refused.push(`during-${i}`);
        }
      }
      expect(refused.length).toBe(5);
      expect((await ready(server)).status).toBe(503);
      expect((await fetch(`${server.url}/health`)).status).toBe(200);

      // The fault clears: /ready recovers on its own, without any write traffic first.
      unlinkSync(filler);
      const recovered = await ready(server);
      expect(recovered.body).toMatchObject({ ready: true });
      expect(recovered.status).toBe(200);

      // Writes work again, and what was refused was not stored: a resend is accepted, not a duplicate.
      for (const messageId of refused) {
        const response = await track(server, tenant.key, messageId);
        expect(response.status).toBe(200);
        expect((await response.json()).status).toBe("accepted");
        acknowledged.push(messageId);
      }

      server.proc.kill("SIGTERM");
      expect(await server.proc.exited).toBe(0);
      const stored = storedEvents(db);
      expect(stored.integrity).toBe("ok");
      expect(notStoredOnce(stored, acknowledged)).toEqual([]);
    } finally {
      server.proc.kill("SIGKILL");
    }
  },
);

test.skipIf("skip" in ext4)(
  "a file system turned read-only under the server: 503 with Retry-After, /ready false, no crash, nothing lost",
  { timeout: 120_000 },
  async () => {
    const { point, trigger } = ext4 as { point: string; trigger: string };
    const db = join(point, "inlet.db");
    const tenant = JSON.parse((await cli(["tenant", "create", "ro"], { INLET_DB: db })).stdout) as { key: string };
    // A failing file system drops what is not yet on the device, like a power loss: only
    // synchronous=FULL (an fsync per commit) keeps every acknowledged event then (docs/api.md, "Guarantees").
    const server = await spawnServer({ INLET_DB: db, INLET_SYNCHRONOUS: "FULL" });
    const acknowledged: string[] = [];
    try {
      for (let i = 0; i < 20; i++) {
        expect((await track(server, tenant.key, `before-${i}`)).status).toBe(200);
        acknowledged.push(`before-${i}`);
      }
      // The kernel's error path: ext4 with errors=remount-ro turns itself read-only, open files and all.
      expect(run(["sh", "-c", `echo inlet-test > ${trigger}`]).ok).toBe(true);
      expect(run(["findmnt", "-n", "-o", "OPTIONS", point]).output).toMatch(/(^|,)ro(,|$)|emergency_ro/);

      for (let i = 0; i < 10; i++) {
        const response = await track(server, tenant.key, `during-${i}`);
        const body = await response.json();
        expect(response.status).toBe(503);
        expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
        expect(body.error.code).toBe("unavailable");
      }
      const readiness = await ready(server);
      expect(readiness.status).toBe(503);
      expect(readiness.body.checks.storage).toBe(false);
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
    } finally {
      server.proc.kill("SIGTERM");
      await server.proc.exited;
    }
    // The kernel clears this state only by unmounting; then everything acknowledged is there.
    expect(run(["umount", point]).ok).toBe(true);
    mounted.splice(mounted.indexOf(point), 1);
    const remount = mount("ext4", ["-o", "loop", join(dir, "ext4.img")]);
    expect("point" in remount).toBe(true);
    const stored = storedEvents(db);
    expect(stored.integrity).toBe("ok");
    expect(notStoredOnce(stored, acknowledged)).toEqual([]);
  },
);
