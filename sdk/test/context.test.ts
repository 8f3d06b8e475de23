import { afterEach, describe, expect, test } from "bun:test";
import pkg from "../package.json";
import { campaign } from "../src/context";
import { VERSION } from "../src/version";
import { closeWindows, newWindow, tab } from "./helpers";

afterEach(closeWindows);

describe("context", () => {
  test("every event carries page, UTM campaign, locale, time zone, screen, user agent and library", async () => {
    const window = newWindow(
      "https://shop.example/pricing?utm_source=Newsletter&utm_medium=email&utm_campaign=spring&utm_term=shoes&utm_content=hero&x=1#plans",
    );
    Object.defineProperty(window.document, "referrer", { value: "https://www.google.com/", configurable: true });
    const { inlet, server } = tab({}, { window });
    inlet.track("a");
    await inlet.flush();
    const c = server.events[0]!.context;
    expect(c.library).toEqual({ name: "inlet.js", version: VERSION });
    expect(c.page).toEqual({
      url: "https://shop.example/pricing?utm_source=Newsletter&utm_medium=email&utm_campaign=spring&utm_term=shoes&utm_content=hero&x=1",
      path: "/pricing",
      title: "Pricing",
      referrer: "https://www.google.com/",
      search: "?utm_source=Newsletter&utm_medium=email&utm_campaign=spring&utm_term=shoes&utm_content=hero&x=1",
    });
    expect(c.campaign).toEqual({ source: "Newsletter", medium: "email", name: "spring", term: "shoes", content: "hero" });
    expect(c.locale).toBe(window.navigator.language);
    expect(c.timezone).toBe(Intl.DateTimeFormat().resolvedOptions().timeZone);
    expect(c.screen).toEqual({ width: window.screen.width, height: window.screen.height, density: window.devicePixelRatio });
    expect(c.userAgent).toBe(window.navigator.userAgent);
  });

  test("context is taken when the event is made (a single-page app's route change shows)", async () => {
    const { inlet, server, window } = tab();
    inlet.page();
    window.history.pushState({}, "", "/checkout?step=2");
    window.document.title = "Checkout";
    inlet.page();
    await inlet.flush();
    const [a, b] = server.events;
    expect(a!.context.page.path).toBe("/pricing");
    expect(b!.context.page).toMatchObject({ path: "/checkout", title: "Checkout", search: "?step=2" });
    expect(b!.properties).toMatchObject({ path: "/checkout", title: "Checkout", url: "https://shop.example/checkout?step=2" });
    expect(b!.context.campaign).toBeUndefined();
  });

  test("UTM parsing: only present, non-empty parameters; decoded", () => {
    expect(campaign("?utm_source=a%20b&utm_medium=&foo=1")).toEqual({ source: "a b" });
    expect(campaign("?q=1")).toBeUndefined();
    expect(campaign("")).toBeUndefined();
  });

  test("the library version matches sdk/package.json", () => {
    expect(VERSION).toBe(pkg.version);
  });
});
