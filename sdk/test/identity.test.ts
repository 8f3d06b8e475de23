import { afterEach, describe, expect, test } from "bun:test";
import { AID, UID } from "../src/identity";
import { blockCookies, closeWindows, newWindow, shareStorage, spyCookies, tab } from "./helpers";

afterEach(closeWindows);

const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("identity", () => {
  test("the anonymousId is a UUID v4 in a first-party cookie: SameSite=Lax, one year, Secure on https", async () => {
    const window = newWindow();
    const writes = spyCookies(window);
    const { inlet, server } = tab({}, { window });
    inlet.track("a");
    await inlet.flush();
    const id = server.events[0]!.anonymousId;
    expect(id).toMatch(UUID4);
    expect(window.document.cookie).toContain(`${AID}=${id}`);
    expect(writes[0]).toBe(`${AID}=${id}; Max-Age=31536000; Path=/; SameSite=Lax; Secure`);
    expect(window.localStorage.getItem(AID)).toBe(id); // the fallback copy
  });

  test("the cookie domain is configurable (shared across subdomains)", () => {
    const window = newWindow("https://www.shop.example/");
    const writes = spyCookies(window);
    tab({ cookieDomain: ".shop.example" }, { window }).inlet.track("a");
    expect(writes[0]).toContain("; Domain=.shop.example");
  });

  test("the same anonymousId is kept across page loads (from the cookie)", async () => {
    const first = tab();
    first.inlet.track("a");
    const id = first.inlet.user().anonymousId;
    first.window.localStorage.clear(); // only the cookie is left
    const w2 = newWindow();
    w2.document.cookie = first.window.document.cookie;
    const second = tab({}, { window: w2 });
    expect(second.inlet.user().anonymousId).toBe(id);
  });

  test("with cookies blocked, localStorage keeps the anonymousId across page loads", () => {
    const w1 = newWindow();
    blockCookies(w1);
    const id = tab({}, { window: w1 }).inlet.user().anonymousId;
    expect(id).toMatch(UUID4);
    const w2 = newWindow();
    blockCookies(w2);
    shareStorage(w1, w2);
    expect(tab({}, { window: w2 }).inlet.user().anonymousId).toBe(id);
  });

  test("identify persists the userId: later events and later page loads carry it", async () => {
    const a = tab();
    a.inlet.track("before");
    a.inlet.identify("user-42", { plan: "pro" });
    a.inlet.track("after");
    await a.inlet.flush();
    expect(a.server.events.map((e) => e.userId)).toEqual([undefined, "user-42", "user-42"]);
    expect(a.server.events[1]!.traits).toEqual({ plan: "pro" });
    const b = tab({}, { share: a });
    b.inlet.track("next page");
    await b.inlet.flush();
    expect(a.server.events.at(-1)!.userId).toBe("user-42");
    expect(a.server.events.at(-1)!.anonymousId).toBe(a.server.events[0]!.anonymousId);
  });

  test("identify with traits only keeps the current userId", async () => {
    const { inlet, server } = tab();
    inlet.identify("u1");
    inlet.identify({ email: "x@y.z" });
    await inlet.flush();
    expect(server.events[1]).toMatchObject({ userId: "u1", traits: { email: "x@y.z" } });
  });

  test("reset clears the userId and starts a new anonymousId, in the cookie and localStorage", async () => {
    const { inlet, server, window } = tab();
    inlet.identify("u1");
    const before = inlet.user().anonymousId;
    inlet.reset();
    expect(window.localStorage.getItem(UID)).toBeNull();
    expect(window.document.cookie).not.toContain(before!);
    inlet.track("after reset");
    await inlet.flush();
    const e = server.events.at(-1)!;
    expect(e.userId).toBeUndefined();
    expect(e.anonymousId).toMatch(UUID4);
    expect(e.anonymousId).not.toBe(before!);
    expect(window.document.cookie).toContain(e.anonymousId);
    expect(window.localStorage.getItem(AID)).toBe(e.anonymousId);
  });
});
