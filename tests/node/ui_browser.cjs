// The admin page (/ui/) in a real browser: Debian's Chromium driven by
// playwright-core, axe-core for accessibility. Run by tests/ui_browser.rs,
// which seeds the realm and passes everything in COHORT_UI_CONFIG (JSON):
// base URL, Chromium's path, axe.min.js, the screenshot directory, one-time
// sign-in links for the owner and a member, the owner's API key (for the
// change made "elsewhere"), and the ids and names of the seeded groups.
//
// Each scenario is a list of checks; the first that fails throws, the
// script prints it and exits non-zero. Prints every axe violation found,
// one JSON line of page sizes and DOMContentLoaded times
// ("UI_PAGE_TIMINGS {...}"), and "ui browser checks passed" at the end.
"use strict";
const { chromium } = require("playwright-core");
const fs = require("fs");
const http = require("http");
const path = require("path");

const config = JSON.parse(process.env.COHORT_UI_CONFIG || "null");
if (!config) throw new Error("COHORT_UI_CONFIG is not set");
const base = config.base.replace(/\/$/, "");
const MAX_PAGE_BYTES = 100 * 1024;
const LIVE_WITHIN_MS = 5000;

const timings = { pages: {} };
const axeFindings = {};
let checks = 0;

function check(condition, message) {
  if (!condition) throw new Error("check failed: " + message);
  checks++;
}

function step(name) {
  console.log("== " + name);
}

const authHeader =
  "Basic " + Buffer.from(config.owner.email + ":" + config.owner.key).toString("base64");

/** The Zulip API, as the owner (the change made "elsewhere"). */
async function zulip(method, apiPath, params) {
  const init = { method, headers: { Authorization: authHeader } };
  let url = base + "/api/v1" + apiPath;
  if (params && method === "GET") url += "?" + new URLSearchParams(params);
  else if (params) init.body = new URLSearchParams(params);
  const res = await fetch(url, init);
  const body = await res.json();
  if (res.status !== 200 || body.result !== "success") {
    throw new Error(`${method} ${apiPath}: ${res.status} ${JSON.stringify(body)}`);
  }
  return body;
}

async function groupsNamed(name) {
  const body = await zulip("GET", "/user_groups", { include_deactivated_groups: "true" });
  return body.user_groups.filter((g) => g.name === name);
}

async function screenshot(page, name) {
  await page.screenshot({ path: path.join(config.screenshots, name + ".png"), fullPage: true });
  await page.screenshot({ path: path.join(config.screenshots, "viewport", name + ".png") });
}

/** Record a page's HTML size, DOMContentLoaded time and headers; check the size. */
async function record(page, name, response) {
  check(response, `${name}: a response`);
  check(response.status() === 200, `${name}: status ${response.status()} for ${response.url()}`);
  const bytes = (await response.body()).length;
  const csp = response.headers()["content-security-policy"] || "";
  check(csp.includes("script-src 'self'"), `${name}: the CSP header is sent (${csp})`);
  const dcl = await page.evaluate(() => {
    const nav = performance.getEntriesByType("navigation")[0];
    return nav ? nav.domContentLoadedEventEnd : null;
  });
  check(typeof dcl === "number" && dcl > 0, `${name}: a DOMContentLoaded time (${dcl})`);
  check(bytes < MAX_PAGE_BYTES, `${name}: HTML is ${bytes} bytes, at most ${MAX_PAGE_BYTES}`);
  timings.pages[name] = { bytes, dom_content_loaded_ms: Math.round(dcl * 10) / 10 };
}

/** Open a page, record it, screenshot it. */
async function visit(page, name, url) {
  const response = await page.goto(base + url, { waitUntil: "load" });
  await record(page, name, response);
  await screenshot(page, name);
  return response;
}

/** axe-core on the page as it is: print every violation, fail on serious ones. */
async function axe(page, name) {
  await page.addScriptTag({ path: config.axe });
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target.join(" "), summary: n.failureSummary })),
    }));
  });
  axeFindings[name] = result.map((v) => `${v.impact}:${v.id}`);
  for (const v of result) {
    console.log(`axe ${name}: [${v.impact}] ${v.id}: ${v.help}`);
    for (const n of v.nodes.slice(0, 5)) console.log(`    at ${n.target}\n      ${(n.summary || "").replace(/\n/g, "\n      ")}`);
    if (v.nodes.length > 5) console.log(`    … and ${v.nodes.length - 5} more`);
  }
  const bad = result.filter((v) => v.impact === "serious" || v.impact === "critical");
  check(bad.length === 0, `${name}: axe found serious/critical violations: ${bad.map((v) => v.id).join(", ")}`);
}

/** Follow a one-time link and press "Continue and sign in". */
async function signIn(page, link, name) {
  const response = await page.goto(link, { waitUntil: "load" });
  if (name) {
    await record(page, name, response);
    await screenshot(page, name);
    await axe(page, name);
  }
  const button = page.getByRole("button", { name: "Continue and sign in" });
  check((await button.count()) === 1, "the link page shows “Continue and sign in”");
  await Promise.all([page.waitForURL(base + "/ui/groups"), button.click()]);
  check(new URL(page.url()).pathname === "/ui/groups", `signed in, on ${page.url()}`);
}

/** The member rows of a group page, as {name, membership}. */
async function memberRows(page) {
  return page.$$eval("#member-results table.members tbody tr", (rows) =>
    rows.map((tr) => ({
      name: tr.querySelector("th").textContent.trim(),
      membership: tr.querySelector("td:last-child").textContent.replace(/\s+/g, " ").trim(),
    })),
  );
}

async function noHorizontalScroll(page, name) {
  const { scroll, inner } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    inner: window.innerWidth,
  }));
  check(scroll <= inner, `${name}: no horizontal scrolling at phone width (scrollWidth ${scroll} > innerWidth ${inner})`);
}

async function main() {
  // Playwright launches Chromium on a fresh temporary profile (and removes
  // it afterwards); every context below starts with no cookies or storage.
  const browser = await chromium.launch({
    executablePath: config.chromium,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const attacker = http.createServer();
  try {
    // The CSP stays on the wire (checked in `record`) but is bypassed in the
    // browser, so the escaping checks test the markup itself: with the CSP
    // enforced, an unescaped handler would be blocked and never seen.
    const contextOptions = { viewport: { width: 1280, height: 800 }, bypassCSP: true };
    const owner = await browser.newContext(contextOptions);
    const page = await owner.newPage();
    page.setDefaultTimeout(20000);
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));

    step("1. signing in by link");
    await signIn(page, config.owner_link, "sign-in");
    check(await page.getByRole("heading", { level: 1, name: "Groups" }).isVisible(), "the groups list is shown");
    check(await page.getByRole("link", { name: "Olivia Owner" }).isVisible(), "signed in as the owner");

    step("2. finding one group among the " + config.groups + " by searching as you type");
    await visit(page, "groups", "/ui/groups");
    await axe(page, "groups");
    const total = await page.textContent("#group-results p.count");
    const shown = Number((total.match(/[\d,]+/) || ["0"])[0].replace(/,/g, ""));
    check(shown >= config.groups, `the list counts every group (${total})`);
    check((await page.$$("#group-results tbody tr")).length === 50, "one page of 50 rows");
    await page.evaluate(() => { window.__sameDocument = 1; });
    await page.locator("#q").pressSequentially(config.target.search, { delay: 25 });
    await page.waitForFunction(
      (name) => {
        const rows = document.querySelectorAll("#group-results tbody tr");
        return rows.length === 1 && rows[0].textContent.includes(name);
      },
      config.target.name,
    );
    check(await page.evaluate(() => window.__sameDocument === 1), "the results were swapped in without loading a new page");
    check(new URL(page.url()).searchParams.get("q") === config.target.search, `the URL keeps ?q= (${page.url()})`);
    check((await page.textContent("#group-results p.count")).includes("1 group"), "one group matches");
    await screenshot(page, "search");
    const searched = await page.request.get(page.url());
    check(searched.status() === 200, "the search URL opens by itself");
    check((await searched.body()).length < MAX_PAGE_BYTES, "the search results page is small");
    check((await searched.text()).includes(config.target.name), "the search URL alone finds the group");
    await Promise.all([
      page.waitForURL(`${base}/ui/groups/${config.target.id}`),
      page.getByRole("link", { name: config.target.name, exact: true }).click(),
    ]);
    check(await page.getByRole("heading", { level: 1, name: config.target.name }).isVisible(), "the group's page opened");

    step("3. adding three people in one action");
    const reviewFrom = new Date(Date.now() - 1000).toISOString().replace(/\.\d+Z$/, "Z");
    await visit(page, "group-owner", `/ui/groups/${config.target.id}`);
    await axe(page, "group-owner");
    await page.locator("#add_q").pressSequentially("quinn", { delay: 25 });
    await page.waitForFunction(() => document.querySelectorAll("#candidates label.option input[name=add_user]").length === 3);
    for (const who of ["Quinn Alpha", "Quinn Bravo", "Quinn Charlie"]) {
      await page.getByRole("checkbox", { name: who }).check();
    }
    const addButton = page.getByRole("button", { name: "Add selected" });
    check((await addButton.count()) === 1, "the owner has “Add selected”");
    await Promise.all([page.waitForURL(/done=members/), addButton.click()]);
    check(await page.getByText("Membership saved.").isVisible(), "the notice “Membership saved.” is shown");
    let rows = await memberRows(page);
    for (const who of ["Quinn Alpha", "Quinn Bravo", "Quinn Charlie"]) {
      const row = rows.find((r) => r.name === who);
      check(row && row.membership === "direct", `${who} is listed as a direct member (${JSON.stringify(rows)})`);
    }
    await page.locator("#members").scrollIntoViewIfNeeded();
    await screenshot(page, "group-members");

    step("4. the supergroup's effective members, via the group");
    await record(page, "supergroup", await page.goto(`${base}/ui/groups/${config.supergroup.id}`));
    rows = await memberRows(page);
    for (const who of ["Quinn Alpha", "Quinn Bravo", "Quinn Charlie"]) {
      const row = rows.find((r) => r.name === who);
      check(row && row.membership === `via ${config.target.name}`, `${who} is in ${config.supergroup.name} via ${config.target.name} (${JSON.stringify(row)})`);
    }
    await page.locator("#members").scrollIntoViewIfNeeded();
    await screenshot(page, "supergroup");

    step("5. a member's view lacks the admin actions; the owner's has them");
    const adminControls = async (p) => ({
      rename: await p.getByRole("button", { name: "Rename" }).count(),
      describe: await p.getByRole("button", { name: "Save description" }).count(),
      deactivate: await p.getByRole("button", { name: "Deactivate group" }).count(),
      change: await p.locator("summary", { hasText: "Change" }).count(),
      find: await p.locator("#add_q").count(),
    });
    await page.goto(`${base}/ui/groups/${config.target.id}`);
    const ownerHas = await adminControls(page);
    check(ownerHas.rename === 1 && ownerHas.describe === 1 && ownerHas.deactivate === 1 && ownerHas.change >= 5 && ownerHas.find === 1,
      `the owner has Rename, Save description, Deactivate, Change and the add form (${JSON.stringify(ownerHas)})`);
    const memberContext = await browser.newContext(contextOptions);
    const memberPage = await memberContext.newPage();
    memberPage.setDefaultTimeout(20000);
    await signIn(memberPage, config.member_link, null);
    check(await memberPage.getByRole("link", { name: "Mia Member" }).isVisible(), "signed in as the member");
    await visit(memberPage, "group-member", `/ui/groups/${config.target.id}`);
    await axe(memberPage, "group-member");
    const memberHas = await adminControls(memberPage);
    check(Object.values(memberHas).every((n) => n === 0), `the member sees no admin actions (${JSON.stringify(memberHas)})`);
    check((await memberPage.getByRole("button", { name: "Add selected" }).count()) === 0, "no “Add selected” for the member");
    const forMember = await memberPage.content();
    for (const action of ["/name\"", "/description\"", "/settings\"", "/deactivate\""]) {
      check(!forMember.includes(action), `no ${action} form for the member`);
    }

    step("6. names and descriptions are text, never markup");
    const hostileName = '<img src=x onerror="window.__xss=1">';
    const hostileDescription = "<script>window.__xss=1</script>";
    await record(page, "hostile-list", await page.goto(`${base}/ui/groups?q=${encodeURIComponent("__xss")}`, { waitUntil: "load" }));
    await page.waitForTimeout(300);
    check(await page.evaluate(() => window.__xss === undefined), "window.__xss is undefined on the list");
    check(await page.getByRole("link", { name: hostileName, exact: true }).isVisible(), "the hostile name shows as text on the list");
    check((await page.$$("#group-results img")).length === 0, "no <img> on the list");
    await record(page, "hostile-group", await page.goto(`${base}/ui/groups/${config.hostile}`, { waitUntil: "load" }));
    await page.waitForTimeout(300);
    check(await page.evaluate(() => window.__xss === undefined), "window.__xss is undefined on the group page");
    check((await page.textContent("main h1")).trim() === hostileName, "the heading is the name, as text");
    check((await page.textContent("main p.description")).trim() === hostileDescription, "the description is shown as text");
    check((await page.$$("main img, main script")).length === 0, "no <img> or <script> in main");

    step("7. CSRF: a forged token and another site's form are refused");
    await page.goto(`${base}/ui/groups`);
    const forged = await page.evaluate(async () => {
      const r = await fetch("/ui/groups", {
        method: "POST",
        body: new URLSearchParams({ name: "x", csrf: "forged" }),
        credentials: "same-origin",
        redirect: "manual",
      });
      return { status: r.status, text: await r.text() };
    });
    check(forged.status === 403, `a forged token is refused with 403 (got ${forged.status})`);
    check(forged.text.includes("security token"), "the refusal says why");
    check((await groupsNamed("x")).length === 0, "no group “x” was created");
    const token = await page.inputValue("input[name=csrf]");
    check(token.length > 10, "the page has a CSRF token");
    attacker.on("request", (req, res) => {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(`<!doctype html><html lang="en"><title>Elsewhere</title>
        <form method="post" action="${base}/ui/groups">
          <input name="name" value="x"><input type="hidden" name="csrf" value="${token}">
          <button type="submit">Win a prize</button>
        </form></html>`);
    });
    await new Promise((resolve) => attacker.listen(0, "127.0.0.1", resolve));
    const elsewhere = `http://127.0.0.1:${attacker.address().port}/`;
    check(!elsewhere.startsWith(base), "the other page is on another origin");
    await page.goto(elsewhere);
    const [crossSite] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${base}/ui/groups` && r.request().method() === "POST"),
      page.getByRole("button", { name: "Win a prize" }).click(),
    ]);
    check(crossSite.status() === 403, `another site's form (with a real token) is refused with 403 (got ${crossSite.status()})`);
    await page.waitForLoadState("load");
    check((await page.textContent("body")).includes("another site"), "the refusal page says the form came from another site");
    check((await groupsNamed("x")).length === 0, "still no group “x”");

    step("8. live: a change made elsewhere shows up by itself");
    await page.goto(`${base}/ui/groups/${config.target.id}`, { waitUntil: "load" });
    await page.evaluate(() => { window.__sameDocument = 1; });
    check(!(await memberRows(page)).some((r) => r.name === config.late_member.name), `${config.late_member.name} is not a member yet`);
    const changedAt = Date.now();
    await zulip("POST", `/user_groups/${config.target.id}/members`, { add: JSON.stringify([config.late_member.id]) });
    await page.waitForFunction(
      () => (document.getElementById("live-status").textContent || "").startsWith("Updated"),
      null,
      { timeout: LIVE_WITHIN_MS },
    );
    const liveMs = Date.now() - changedAt;
    rows = await memberRows(page);
    check(rows.some((r) => r.name === config.late_member.name && r.membership === "direct"), `${config.late_member.name} appears without a reload (${JSON.stringify(rows)})`);
    check(await page.evaluate(() => window.__sameDocument === 1), "the page was updated in place");
    console.log(`live update shown ${liveMs} ms after the API call`);
    timings.live_update_ms = liveMs;

    step("9. keyboard: skip link, main, the search box");
    await page.goto(`${base}/ui/groups`, { waitUntil: "load" });
    await page.keyboard.press("Tab");
    const first = await page.evaluate(() => {
      const a = document.activeElement;
      const box = a.getBoundingClientRect();
      return { text: a.textContent.trim(), tag: a.tagName, left: box.left, width: box.width };
    });
    check(first.tag === "A" && first.text === "Skip to content", `Tab once focuses “Skip to content” (${JSON.stringify(first)})`);
    check(first.left >= 0 && first.width > 0, "the focused skip link is on screen");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.activeElement && document.activeElement.closest("main"));
    check(await page.evaluate(() => document.activeElement.id === "main"), "Enter moves focus to main");
    let reached = false;
    for (let i = 0; i < 10 && !reached; i++) {
      await page.keyboard.press("Tab");
      reached = await page.evaluate(() => document.activeElement.id === "q");
    }
    check(reached, "the search box is reached by Tab from main");
    await page.keyboard.type("Team 0001");
    await page.waitForFunction(() => new URL(location.href).searchParams.get("q") === "Team 0001");

    step("10. phone width: no horizontal scrolling");
    const phone = await browser.newContext({
      ...contextOptions,
      viewport: { width: 390, height: 844 },
      storageState: await owner.storageState(),
    });
    const phonePage = await phone.newPage();
    phonePage.setDefaultTimeout(20000);
    await visit(phonePage, "phone-groups", "/ui/groups");
    await noHorizontalScroll(phonePage, "the group list");
    await visit(phonePage, "phone-group", `/ui/groups/${config.target.id}`);
    await noHorizontalScroll(phonePage, "a group page");

    step("11. accessibility of the other pages");
    await visit(page, "person", `/ui/people/${config.quinns[0]}`);
    check((await page.textContent("main")).includes(config.target.name), "the person page lists the group");
    await axe(page, "person");
    await visit(page, "history", `/ui/groups/${config.target.id}/history`);
    check((await page.textContent("main")).includes("Quinn Alpha"), "the history lists the added people");
    await axe(page, "history");
    await visit(page, "review", `/ui/review?from=${encodeURIComponent(reviewFrom)}`);
    check((await page.textContent("main")).includes("Quinn Alpha"), `the review since ${reviewFrom} lists Quinn Alpha`);
    await axe(page, "review");

    step("12. page weight and DOMContentLoaded");
    console.log("UI_PAGE_TIMINGS " + JSON.stringify(timings));
    console.log("UI_AXE " + JSON.stringify(axeFindings));
    check(errors.length === 0, "no script errors on the owner's pages: " + errors.join("; "));
    await phone.close();
    await memberContext.close();
    await owner.close();
  } finally {
    attacker.close();
    await browser.close();
  }
  console.log(`ui browser checks passed (${checks} checks)`);
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
