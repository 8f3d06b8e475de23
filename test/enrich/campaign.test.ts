import { describe, expect, test } from "bun:test";
import { MAX_CAMPAIGN_VALUE_LENGTH, resolveCampaign } from "../../src/enrich/campaign.ts";
import { deriveChannel, type Channel } from "../../src/enrich/channel.ts";

describe("campaign from the page URL and the payload", () => {
  test("UTM parameters and click ids from context.page.url, in Segment's names", () => {
    const campaign = resolveCampaign({
      page: {
        url: "https://shop.example/?utm_source=Google&utm_medium=CPC&utm_campaign=Spring+Sale&utm_term=red%20shoes&utm_content=ad-1&gclid=abc123&fbclid=fb1&msclkid=ms1#top",
      },
    });
    expect(campaign).toEqual({
      name: "Spring Sale",
      source: "google",
      medium: "cpc",
      term: "red shoes",
      content: "ad-1",
      gclid: "abc123",
      fbclid: "fb1",
      msclkid: "ms1",
    });
  });

  test("an explicit context.campaign wins key by key over the URL", () => {
    const campaign = resolveCampaign({
      page: { url: "https://shop.example/?utm_source=google&utm_medium=cpc&utm_campaign=from-url" },
      campaign: { name: "from-payload", source: "Newsletter" },
    });
    expect(campaign).toEqual({ name: "from-payload", source: "newsletter", medium: "cpc" });
  });

  test("custom keys in the payload's campaign are kept as sent", () => {
    expect(resolveCampaign({ campaign: { name: "x", id: "cmp-7" } })).toEqual({ name: "x", id: "cmp-7" });
  });

  test("a parameter whose name is percent-encoded is read as decoded; other queries give nothing", () => {
    expect(resolveCampaign({ page: { url: "https://shop.example/?utm%5Fsource=News&gcl%69d=abc" } })).toEqual({ source: "news", gclid: "abc" });
    expect(resolveCampaign({ page: { url: "https://shop.example/?q=utm&page=2&source=x" } })).toBeUndefined();
  });

  test("page.search is read when the URL has no query", () => {
    expect(resolveCampaign({ page: { url: "https://shop.example/", search: "?utm_source=bing" } })).toEqual({ source: "bing" });
  });

  test("values are trimmed, stripped of control characters, and capped", () => {
    const campaign = resolveCampaign({
      campaign: { name: `  Summer\u0000\u001b Sale\u007f  `, medium: " E-Mail\n", term: "x".repeat(1000), content: "   " },
    });
    expect(campaign?.name).toBe("Summer Sale");
    expect(campaign?.medium).toBe("e-mail");
    expect(campaign?.term).toHaveLength(MAX_CAMPAIGN_VALUE_LENGTH);
    expect(campaign && "content" in campaign).toBe(false);
  });

  test("a cap never leaves half an emoji", () => {
    const campaign = resolveCampaign({ campaign: { name: "a".repeat(MAX_CAMPAIGN_VALUE_LENGTH - 1) + "😀" } });
    expect(campaign?.name).toBe("a".repeat(MAX_CAMPAIGN_VALUE_LENGTH - 1));
  });

  test("no UTM, no click id and no payload campaign: no campaign at all", () => {
    expect(resolveCampaign({ page: { url: "https://shop.example/?q=shoes" } })).toBeUndefined();
    expect(resolveCampaign({})).toBeUndefined();
  });

  test("malformed input does not throw", () => {
    expect(resolveCampaign({ page: { url: 42 }, campaign: "spring" })).toBeUndefined();
    // A broken percent-escape is decoded leniently (WHATWG URLSearchParams), not rejected.
    expect(resolveCampaign({ page: { url: "https://x.example/?utm_source=%E0%A4%A" } })?.source).toEndWith("%a");
  });
});

describe("channel rules", () => {
  const page = "https://shop.example/landing";
  const channelOf = (context: Record<string, unknown>) => deriveChannel(context, resolveCampaign(context));
  const withUrl = (query: string, referrer?: string) => ({ page: { url: `${page}?${query}`, referrer } });

  const table: Array<[string, Record<string, unknown>, Channel]> = [
    ["gclid → paid search", withUrl("gclid=abc"), "paid_search"],
    ["msclkid → paid search", withUrl("msclkid=abc"), "paid_search"],
    ["medium cpc → paid search", withUrl("utm_source=google&utm_medium=cpc"), "paid_search"],
    ["medium ppc → paid search", withUrl("utm_source=partner&utm_medium=ppc"), "paid_search"],
    ["medium paidsearch → paid search", withUrl("utm_medium=paidsearch"), "paid_search"],
    ["paid medium on a search engine source → paid search", withUrl("utm_source=bing&utm_medium=cpm"), "paid_search"],
    ["medium cpc on a social source → paid social", withUrl("utm_source=facebook&utm_medium=cpc"), "paid_social"],
    ["medium paid_social → paid social", withUrl("utm_source=partner&utm_medium=paid_social"), "paid_social"],
    ["medium paidsocial → paid social", withUrl("utm_medium=paidsocial"), "paid_social"],
    ["fbclid with a paid medium → paid social", withUrl("fbclid=x&utm_medium=cpm"), "paid_social"],
    ["medium cpm on instagram (ig) → paid social", withUrl("utm_source=ig&utm_medium=cpm"), "paid_social"],
    ["medium email → email", withUrl("utm_source=acme&utm_medium=email"), "email"],
    ["medium e-mail → email", withUrl("utm_medium=E-Mail"), "email"],
    ["medium newsletter → email", withUrl("utm_source=weekly&utm_medium=newsletter"), "email"],
    ["source newsletter → email", withUrl("utm_source=newsletter"), "email"],
    ["Google referrer, untagged → organic search", { page: { url: page, referrer: "https://www.google.co.uk/" } }, "organic_search"],
    ["Bing referrer → organic search", { page: { url: page, referrer: "https://www.bing.com/search?q=x" } }, "organic_search"],
    ["DuckDuckGo referrer → organic search", { page: { url: page, referrer: "https://duckduckgo.com/" } }, "organic_search"],
    ["Yandex referrer → organic search", { page: { url: page, referrer: "https://yandex.ru/" } }, "organic_search"],
    ["Ecosia referrer → organic search", { page: { url: page, referrer: "https://www.ecosia.org/" } }, "organic_search"],
    ["Baidu referrer → organic search", { page: { url: page, referrer: "https://www.baidu.com/" } }, "organic_search"],
    ["Yahoo referrer → organic search", { page: { url: page, referrer: "https://search.yahoo.com/" } }, "organic_search"],
    ["source google, medium organic → organic search", withUrl("utm_source=google&utm_medium=organic"), "organic_search"],
    ["Facebook referrer → organic social", { page: { url: page, referrer: "https://l.facebook.com/" } }, "organic_social"],
    ["t.co referrer → organic social", { page: { url: page, referrer: "https://t.co/abc" } }, "organic_social"],
    ["x.com referrer → organic social", { page: { url: page, referrer: "https://x.com/someone" } }, "organic_social"],
    ["LinkedIn referrer → organic social", { page: { url: page, referrer: "https://www.linkedin.com/" } }, "organic_social"],
    ["Reddit referrer → organic social", { page: { url: page, referrer: "https://old.reddit.com/r/x" } }, "organic_social"],
    ["YouTube referrer → organic social", { page: { url: page, referrer: "https://www.youtube.com/" } }, "organic_social"],
    ["TikTok referrer → organic social", { page: { url: page, referrer: "https://www.tiktok.com/" } }, "organic_social"],
    ["Pinterest referrer → organic social", { page: { url: page, referrer: "https://pinterest.co.uk/" } }, "organic_social"],
    ["Instagram referrer → organic social", { page: { url: page, referrer: "https://instagram.com/" } }, "organic_social"],
    ["fbclid alone (Facebook tags organic links too) → organic social", withUrl("fbclid=x"), "organic_social"],
    ["source twitter, medium social → organic social", withUrl("utm_source=twitter&utm_medium=social"), "organic_social"],
    ["no referrer, no UTM → direct", { page: { url: page } }, "direct"],
    ["no page at all (a server event) → direct", {}, "direct"],
    ["referrer on the same host → direct (internal navigation)", { page: { url: page, referrer: "https://shop.example/cart" } }, "direct"],
    ["same host with and without www → direct", { page: { url: page, referrer: "https://www.shop.example/" } }, "direct"],
    ["another site → referral", { page: { url: page, referrer: "https://blog.other.example/post" } }, "referral"],
    ["context.referrer.url (mobile) → referral", { page: { url: page }, referrer: { url: "https://partner.example/" } }, "referral"],
    ["the Gmail app is not Google search", { page: { url: page, referrer: "android-app://com.google.android.gm/" } }, "referral"],
    ["medium referral → referral", withUrl("utm_source=partner&utm_medium=referral"), "referral"],
    ["UTM present but matching nothing → other", withUrl("utm_source=partner&utm_medium=affiliate"), "other"],
    ["tagged traffic is judged by its tags, not the referrer", withUrl("utm_source=partner&utm_medium=banner", "https://www.google.com/"), "other"],
    ["a campaign name alone counts as tagged → other", withUrl("utm_campaign=spring", "https://blog.other.example/"), "other"],
    ["payload campaign decides when the URL has none", { page: { url: page }, campaign: { source: "Facebook", medium: "CPC" } }, "paid_social"],
  ];

  test.each(table)("%s", (_label, context, expected) => {
    expect(channelOf(context)).toBe(expected);
  });
});
