import { afterEach, describe, expect, test } from "bun:test";
import { AID } from "../src/identity";
import { closeWindows, newWindow, queuedIds, setNavigator, shareStorage, spyCookies, tab } from "./helpers";

afterEach(closeWindows);

describe("opt-out", () => {
  test("optOut drops the queue and the identity, and nothing more is collected or sent", async () => {
    const { inlet, server, window, clock } = tab({ flushAt: 1000, flushInterval: 1000 });
    inlet.identify("u1");
    inlet.track("queued");
    inlet.optOut();
    expect(queuedIds(window)).toEqual([]);
    expect(window.localStorage.getItem(AID)).toBeNull();
    expect(window.document.cookie).not.toMatch(/inlet_aid=[0-9a-f]/);
    inlet.track("after");
    inlet.page();
    await clock.advance(60000);
    await inlet.flush();
    expect(server.requests.length).toBe(0);
    expect(window.document.cookie).not.toMatch(/inlet_aid=[0-9a-f]/);
    expect(inlet.user()).toEqual({ anonymousId: undefined, userId: undefined });
  });

  test("the opt-out is remembered across page loads and tabs, until optIn", async () => {
    const a = tab();
    a.inlet.optOut();
    const b = tab({}, { share: a });
    b.inlet.track("x");
    await b.inlet.flush();
    expect(a.server.requests.length).toBe(0);
    b.inlet.optIn();
    b.inlet.track("y");
    await b.inlet.flush();
    expect(a.server.events.map((e) => e.event)).toEqual(["y"]);
  });
});

describe("Do Not Track and Global Privacy Control", () => {
  for (const [name, nav] of [
    ["DNT", { doNotTrack: "1" }],
    ["GPC", { globalPrivacyControl: true }],
  ] as const) {
    test(`${name} on and respectDoNotTrack: nothing is sent and no cookie is written`, async () => {
      const window = newWindow();
      setNavigator(window, nav);
      const writes = spyCookies(window);
      const { inlet, server } = tab({ respectDoNotTrack: true }, { window });
      inlet.track("a");
      inlet.identify("u1");
      await inlet.flush();
      expect(server.requests.length).toBe(0);
      expect(writes).toEqual([]);
      expect(window.localStorage.length).toBe(0);
    });

    test(`${name} on but respectDoNotTrack not set: events are sent`, async () => {
      const window = newWindow();
      setNavigator(window, nav);
      const { inlet, server } = tab({}, { window });
      inlet.track("a");
      await inlet.flush();
      expect(server.events.length).toBe(1);
    });
  }

  test("DNT off and respectDoNotTrack: events are sent", async () => {
    const window = newWindow();
    setNavigator(window, { doNotTrack: "0", globalPrivacyControl: false });
    const { inlet, server } = tab({ respectDoNotTrack: true }, { window });
    inlet.track("a");
    await inlet.flush();
    expect(server.events.length).toBe(1);
  });
});

void shareStorage;
