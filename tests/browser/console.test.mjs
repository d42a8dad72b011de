// The dev console in headless chromium (playwright-core, Debian's chromium), as a person uses it.
//
// tests/browser/test_console.py runs this (`node --test tests/browser/`) against a stack it
// started on free ports, passing devtools.stack's description in VISN_STACK, the browser in
// VISN_CHROMIUM and where to save the screenshot in VISN_SCREENSHOT. By hand, against `make dev`:
//   node --test tests/browser/        (reads dev/demo-visn/stack.json; screenshot next to it)
// The page is served from another origin than the functions emulator: every callable request
// is cross-origin, with a CORS preflight (JSON and an Authorization header). Every journey
// leaves nothing booked, so it can run again against the same stack.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";

import { chromium } from "playwright-core";

import { bookableDate, getJson } from "../node_helpers.mjs";

const STACK_FILE = new URL("../../dev/demo-visn/stack.json", import.meta.url);
const stack = JSON.parse(process.env.VISN_STACK ?? readFileSync(STACK_FILE, "utf8"));
const CHROMIUM = process.env.VISN_CHROMIUM ?? "/usr/bin/chromium";
const SCREENSHOT =
  process.env.VISN_SCREENSHOT ??
  new URL("../../dev/demo-visn/console.png", import.meta.url).pathname;
// Without the background-networking flags chromium keeps reaching for Google, which the closed
// network refuses. playwright-core gives the browser a fresh profile (--user-data-dir) itself.
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  // A second, non-local name for the console's server: a page from an origin the functions
  // must refuse (CORS), loaded over a real socket like any other page.
  `--host-resolver-rules=MAP ${"visn-other-origin.test"} 127.0.0.1`,
];
const TIMEOUT = { timeout: 180_000 }; // a hang fails the test instead of the whole run
const STEP_TIMEOUT = 60_000; // one click and the calls it makes, on a slow CI machine
const { uk: UK, ie: IE } = stack.suppliers; // IE: capacity 1, Monday to Friday
const [userA, userB] = stack.users;
const functionsOrigin = `http://${stack.host}:${stack.functionsPort}`;
const consoleOrigin = new URL(stack.consoleUrl).origin;

let browser;
let alice; // { page, context, errors, responses } signed in as customer A
let bob; // the same for customer B

before(async () => {
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 60_000 });
  } catch (error) {
    // test_console.py tells this apart from a failure of the page (skip locally, fail in CI).
    console.error(`VISN_BROWSER_LAUNCH_FAILED: ${CHROMIUM}: ${error.message}`);
    throw error;
  }
  alice = await openConsole();
  bob = await openConsole();
});

after(async () => {
  if (alice) {
    await alice.page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log(`screenshot: ${SCREENSHOT}`);
  }
  await browser?.close();
});

// -- the page ---------------------------------------------------------------------------------

async function openConsole() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT);
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  const responses = [];
  page.on("response", (response) => responses.push(response));
  await page.goto(stack.consoleUrl);
  await page.locator('[data-testid="app"][data-ready="true"]').waitFor();
  return { page, context, errors, responses };
}

/** Click, then wait until the page is done with everything the click started. */
async function act(page, locator) {
  await locator.click();
  await page.locator('[data-testid="app"][data-busy="false"]').waitFor();
}

const text = async (page, id) => (await page.getByTestId(id).textContent()).trim();
/** The calendar day after an ISO date (YYYY-MM-DD). */
function nextDay(isoDate) {
  const day = new Date(`${isoDate}T12:00:00Z`);
  day.setUTCDate(day.getUTCDate() + 1);
  return day.toISOString().slice(0, 10);
}

const slotItem = (page, start) => page.locator(`[data-testid="slot"][data-start="${start}"]`);

async function errorPanel(page) {
  if (await page.getByTestId("error").isHidden()) {
    return null;
  }
  const fields = await page
    .getByTestId("error-field")
    .evaluateAll((items) => items.map((item) => item.dataset.path));
  return {
    call: await text(page, "error-call"),
    code: await text(page, "error-code"),
    message: await text(page, "error-message"),
    reason: await text(page, "error-reason"),
    fields,
  };
}

async function assertNoError(page) {
  assert.equal(await errorPanel(page), null, "the error panel is hidden");
}

async function signIn(page, index, user) {
  await page.getByTestId("user").selectOption(String(index));
  assert.equal(await page.getByTestId("email").inputValue(), user.email, "the switch fills it");
  await act(page, page.getByTestId("signin"));
  await assertNoError(page);
  assert.equal(
    await text(page, "whoami"),
    `signed in as ${user.email} · customerId ${user.customerId}`,
  );
}

/** Slots for one day; returns their starts, in order. */
async function showSlots(page, supplierId, date) {
  await page.getByTestId("supplier").selectOption(supplierId);
  await page.getByTestId("date").fill(date);
  await page.getByTestId("days").fill("1");
  await act(page, page.getByTestId("show-slots"));
  await assertNoError(page);
  const day = page.locator(`[data-testid="day"][data-date="${date}"]`);
  const starts = await day
    .getByTestId("slot")
    .evaluateAll((items) => items.map((item) => item.dataset.start));
  assert.ok(starts.length >= 2, `open slots on ${date}: ${starts}`);
  return starts;
}

async function card(page) {
  assert.ok(await page.getByTestId("booking").isVisible(), "the booking card is shown");
  return {
    status: await text(page, "booking-status"),
    enquiryId: await text(page, "booking-enquiry"),
    appointmentId: await text(page, "booking-appointment"),
    reference: await text(page, "booking-reference"),
    slotStart: await page.getByTestId("booking-slot").getAttribute("data-start"),
    previous: await text(page, "booking-previous"),
  };
}

// -- what the backends hold -------------------------------------------------------------------

async function appointment(appointmentId) {
  const { appointments } = await getJson(`${stack.sandboxUrl}/_sandbox/appointments`);
  const found = appointments.find((a) => a.appointmentId === appointmentId);
  assert.ok(found, `appointment ${appointmentId} is in the sandbox`);
  return found;
}

async function enquiryStatus(enquiryId) {
  const documents = `http://${stack.firestoreHost}/v1/projects/${stack.project}/databases/(default)/documents`;
  const doc = await getJson(`${documents}/enquiries/${enquiryId}`, {
    Authorization: "Bearer owner", // the emulator's admin bearer
  });
  return doc.fields.status.stringValue;
}

// -- journeys ---------------------------------------------------------------------------------

test("book → move → cancel: the card, the sandbox and Firestore agree", TIMEOUT, async () => {
  const { page } = alice;
  assert.equal(await text(page, "whoami"), "signed out");
  await signIn(page, 0, userA);
  const [first, second] = await showSlots(page, UK, bookableDate(5)); // journeys use 0..4

  await act(page, slotItem(page, first).getByTestId("book"));
  await assertNoError(page);
  const booked = await card(page);
  assert.equal(booked.status, "BOOKED");
  assert.equal(booked.slotStart, first);
  assert.match(booked.reference, /^KL-/);
  const made = await appointment(booked.appointmentId);
  assert.equal(made.status, "BOOKED");
  assert.equal(Date.parse(made.dueInDateTime), Date.parse(first));
  assert.equal(await enquiryStatus(booked.enquiryId), "BOOKED");
  assert.ok(await slotItem(page, first).evaluate((li) => li.classList.contains("mine")));

  // Move to…: the slot buttons turn into "Move here".
  await act(page, page.getByTestId("move"));
  assert.ok(await page.getByTestId("move-hint").isVisible());
  assert.ok(await slotItem(page, first).getByTestId("move-here").isDisabled(), "its own slot");
  await act(page, slotItem(page, second).getByTestId("move-here"));
  await assertNoError(page);
  const moved = await card(page);
  assert.equal(moved.status, "BOOKED");
  assert.equal(moved.enquiryId, booked.enquiryId);
  assert.notEqual(moved.appointmentId, booked.appointmentId);
  assert.equal(moved.previous, booked.appointmentId);
  assert.equal(moved.slotStart, second);
  assert.equal((await appointment(booked.appointmentId)).status, "CANCELLED", "the old one");
  const now = await appointment(moved.appointmentId);
  assert.equal(now.status, "BOOKED");
  assert.equal(Date.parse(now.dueInDateTime), Date.parse(second));
  assert.equal(await enquiryStatus(booked.enquiryId), "BOOKED");
  assert.ok(await page.getByTestId("move-hint").isHidden());

  await act(page, page.getByTestId("cancel"));
  await assertNoError(page);
  assert.equal((await card(page)).status, "CANCELLED");
  assert.equal((await appointment(moved.appointmentId)).status, "CANCELLED");
  assert.equal(await enquiryStatus(booked.enquiryId), "CANCELLED");
  assert.deepEqual(alice.errors, [], "no uncaught error in the page");
});

test("errors as the Web UI gets them: bad input, a slot just taken", TIMEOUT, async () => {
  const { page } = alice; // still signed in as customer A, her cancelled booking on the card
  const cancelled = await card(page);
  await signIn(bob.page, 1, userB);
  const date = bookableDate(6);
  const [slot] = await showSlots(page, IE, date);
  const [seenByBob] = await showSlots(bob.page, IE, date);
  assert.equal(seenByBob, slot);

  // A registration the contract refuses: invalid-argument, the field at fault, nothing booked.
  await page.getByTestId("registration").fill("ZQ!!XQ");
  await act(page, slotItem(page, slot).getByTestId("book"));
  const invalid = await errorPanel(page);
  assert.equal(invalid.call, "createBooking");
  assert.equal(invalid.code, "functions/invalid-argument");
  assert.equal(invalid.reason, "VALIDATION");
  assert.deepEqual(invalid.fields, ["vehicle.registration"]);
  assert.ok(invalid.message.length > 0);
  assert.ok(!invalid.message.includes("ZQ!!XQ"), "the value sent is not repeated");
  await page.getByTestId("registration").fill("AB12 CDE");

  // Bob takes the slot (capacity 1); Alice's list still offers it, as a Web UI's would.
  await act(bob.page, slotItem(bob.page, slot).getByTestId("book"));
  await assertNoError(bob.page);
  const bobs = await card(bob.page);
  assert.equal(bobs.status, "BOOKED");
  await act(page, slotItem(page, slot).getByTestId("book"));
  const taken = await errorPanel(page);
  assert.equal(taken.call, "createBooking");
  assert.equal(taken.code, "functions/aborted");
  assert.equal(taken.reason, "SLOT_UNAVAILABLE");
  assert.deepEqual(taken.fields, []);
  assert.ok(taken.message.length > 0);
  assert.deepEqual(await card(page), cancelled, "the card still shows her last booking");
  const { appointments } = await getJson(`${stack.sandboxUrl}/_sandbox/appointments`);
  const live = appointments.filter(
    (a) => a.status === "BOOKED" && a.storeId === "STORE-07" && a.dueInDateTime.startsWith(date),
  );
  assert.deepEqual(
    live.map((a) => a.appointmentId),
    [bobs.appointmentId],
    "the slot holds Bob's appointment only",
  );

  await act(bob.page, bob.page.getByTestId("cancel"));
  assert.equal((await card(bob.page)).status, "CANCELLED");
  assert.equal((await appointment(bobs.appointmentId)).status, "CANCELLED");
  assert.deepEqual([...alice.errors, ...bob.errors], [], "no uncaught error in the pages");
});

test("the page calls the functions cross-origin, and CORS lets it", TIMEOUT, async () => {
  assert.notEqual(new URL(stack.consoleUrl).port, String(stack.functionsPort));
  assert.notEqual(consoleOrigin, functionsOrigin);
  const callPath = new RegExp(`^/${stack.project}/${stack.region}/(\\w+)$`);
  const calls = [];
  for (const response of [...alice.responses, ...bob.responses]) {
    const url = new URL(response.url());
    const request = response.request();
    if (!callPath.test(url.pathname) || request.method() !== "POST") {
      continue;
    }
    calls.push(url.pathname.match(callPath)[1]);
    assert.equal(url.origin, functionsOrigin, "callables go to the functions emulator");
    // JSON with a bearer token: the browser sent a preflight first, and the POST only after
    // the functions answered it. The answer to the POST names the page's origin.
    const headers = await request.allHeaders();
    assert.equal(headers.origin, consoleOrigin);
    assert.match(headers.authorization, /^Bearer /);
    const allowed = (await response.allHeaders())["access-control-allow-origin"];
    assert.equal(allowed, consoleOrigin, "CORS names the page's origin, not *");
  }
  for (const name of ["getAvailability", "createBooking", "rearrangeBooking", "cancelBooking"]) {
    assert.ok(calls.includes(name), `the page called ${name}: ${calls}`);
  }
  // The page itself came from its own origin.
  const served = alice.responses.filter((r) => new URL(r.url()).origin === consoleOrigin);
  const files = served.map((r) => new URL(r.url()).pathname);
  for (const file of ["/", "/app.js", "/style.css", "/config.json"]) {
    assert.ok(files.includes(file), `${file} from ${consoleOrigin}: ${files}`);
  }
});

test("a change the dealer makes in the DMS arrives on the card (onSnapshot)", TIMEOUT, async () => {
  const { page } = alice; // still signed in as customer A
  const [first, , third] = await showSlots(page, UK, bookableDate(7));
  await act(page, slotItem(page, first).getByTestId("book"));
  await assertNoError(page);
  const booked = await card(page);
  assert.equal(await text(page, "booking-dms-change"), "—");

  // The dealer moves it in the DMS: the sandbox posts Keyloop's event to keyloopEvents, which
  // reads the repair order back and writes the enquiry; the page's listener shows it.
  const dealer = async (action, body = {}) => {
    const response = await fetch(
      `${stack.sandboxUrl}/_sandbox/appointments/${booked.appointmentId}/${action}`,
      { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } },
    );
    assert.equal(response.status, 200, `dealer ${action}`);
  };
  const wire = new Date(third).toISOString().replace(/\.\d+Z$/, ".000Z");
  await dealer("move", { dueInDateTime: wire });
  await page.locator('[data-testid="booking-dms-change"][data-action="MOVED_IN_DMS"]').waitFor();
  const moved = await card(page);
  assert.equal(Date.parse(moved.slotStart), Date.parse(third));
  assert.equal(moved.status, "BOOKED");
  assert.equal(moved.appointmentId, booked.appointmentId, "the same appointment, moved");

  await dealer("cancel");
  await page.locator('[data-testid="booking-dms-change"][data-action="CANCELLED_IN_DMS"]').waitFor();
  assert.equal((await card(page)).status, "CANCELLED");
  assert.equal(await enquiryStatus(booked.enquiryId), "CANCELLED");
  assert.deepEqual(alice.errors, [], "no uncaught error in the page");
});

test("first available: closed days skipped, a slot found and booked", TIMEOUT, async () => {
  const { page } = alice; // still signed in as customer A
  // The dealer closes two weekdays (and the days between them) in the DMS: the first free
  // slots are on the next day the Leeds store opens (Monday to Saturday). Days no other
  // journey views, so that no fresh cache entry of theirs answers for them.
  const from = bookableDate(20);
  const closed = [];
  for (let day = from; day <= bookableDate(21); day = nextDay(day)) {
    closed.push(day);
  }
  let open = nextDay(closed.at(-1));
  if (new Date(`${open}T12:00:00Z`).getUTCDay() === 0) {
    open = nextDay(open);
  }
  const store = `${stack.sandboxUrl}/_sandbox/stores/ENT-1001/STORE-01`;
  const { stores } = await getJson(`${stack.sandboxUrl}/_sandbox/stores`);
  const original = stores.find((s) => s.enterpriseId === "ENT-1001" && s.storeId === "STORE-01");
  const putStore = async (body) => {
    const response = await fetch(store, {
      method: "PUT",
      body: JSON.stringify(body),
      headers: { "Content-Type": "application/json" },
    });
    assert.equal(response.status, 200, "the sandbox takes the store");
  };
  await putStore({ ...original, closedDates: closed });
  try {
    await page.getByTestId("supplier").selectOption(UK);
    await page.getByTestId("date").fill(from);
    await page.getByTestId("within-days").fill("14");
    await page.getByTestId("count").fill("3");
    await act(page, page.getByTestId("first-available"));
    await assertNoError(page);
    const summary = page.getByTestId("first-available-summary");
    assert.equal(await summary.getAttribute("data-found"), "3");
    const searched = new RegExp(`^first 3 free slots in \\d+ days searched, ${from} → `);
    assert.match(await summary.textContent(), searched);
    const days = await page
      .getByTestId("day")
      .evaluateAll((sections) => sections.map((section) => section.dataset.date));
    assert.deepEqual(days, [open], "the slots are all on the first open day");
    const starts = await page
      .getByTestId("slot")
      .evaluateAll((items) => items.map((item) => item.dataset.start));
    assert.deepEqual(
      starts.map((start) => start.slice(0, 16)),
      ["08:00", "09:00", "10:00"].map((time) => `${open}T${time}`),
      "the first three, in the store's zone",
    );

    // Booked from there as from the days view; the search runs again and shows it as hers.
    await act(page, slotItem(page, starts[0]).getByTestId("book"));
    await assertNoError(page);
    const booked = await card(page);
    assert.equal(booked.status, "BOOKED");
    assert.equal(booked.slotStart, starts[0]);
    assert.equal((await appointment(booked.appointmentId)).status, "BOOKED");
    assert.equal(
      await page.getByTestId("slots-for").getAttribute("data-kind"),
      "first",
      "the slots shown are the search's, run again",
    );
    assert.ok(await slotItem(page, starts[0]).evaluate((li) => li.classList.contains("mine")));

    await act(page, page.getByTestId("cancel"));
    await assertNoError(page);
    assert.equal((await card(page)).status, "CANCELLED");
    assert.equal((await appointment(booked.appointmentId)).status, "CANCELLED");
  } finally {
    await putStore(original);
  }
  assert.deepEqual(alice.errors, [], "no uncaught error in the page");
});

test("a page from another origin cannot call: its preflight is refused (CORS)", TIMEOUT, async () => {
  const otherOrigin = `http://visn-other-origin.test:${new URL(stack.consoleUrl).port}`;
  const url = stack.callables.getAvailability;
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`${otherOrigin}/style.css`); // any page of that origin will do
    // The same request the SDK makes (JSON, a bearer token): the browser preflights it.
    const call = (target, from = page) =>
      from.evaluate(async (target) => {
        try {
          const response = await fetch(target, {
            method: "POST",
            headers: { "Content-Type": "application/json", Authorization: "Bearer x" },
            body: JSON.stringify({ data: {} }),
          });
          return `answered ${response.status}`;
        } catch (error) {
          return `blocked: ${error.message}`;
        }
      }, target);
    assert.match(await call(url), /^blocked: /, "the browser does not send the call");
    // The same from the console's own origin is sent (and answered, here 401: a bad token).
    assert.match(await call(url, alice.page), /^answered 401$/);
  } finally {
    await context.close();
  }

  // The preflight itself, as the browser sends it: the functions name no other origin.
  const preflight = async (origin) => {
    const response = await fetch(url, {
      method: "OPTIONS",
      headers: {
        Origin: origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
      },
    });
    return response.headers.get("access-control-allow-origin");
  };
  assert.equal(await preflight(otherOrigin), null);
  assert.equal(await preflight("https://evil.example"), null);
  assert.equal(await preflight(consoleOrigin), consoleOrigin, "the console's origin is allowed");
});
