// The dev console: the Web UI's calls through the Firebase JS SDK, in plain DOM code.
//
// devtools/stack/console.py bundles this file with esbuild (which resolves the bare "firebase/..."
// imports from node_modules) into the run directory, and writes config.json next to it: the
// project, where the emulators are, the demo logins and suppliers. Nothing here names a port.
// Elements are found by their data-testid, which tests/browser/console.test.mjs uses too.

import { initializeApp } from "firebase/app";
import {
  connectAuthEmulator,
  getAuth,
  onAuthStateChanged,
  signInWithEmailAndPassword,
  signOut,
} from "firebase/auth";
import { connectFirestoreEmulator, doc, getFirestore, onSnapshot } from "firebase/firestore";
import { connectFunctionsEmulator, getFunctions, httpsCallable } from "firebase/functions";

const byId = (id) => document.querySelector(`[data-testid="${id}"]`);
const root = byId("app");
const MAX_CALLS_SHOWN = 12;

const state = {
  config: null,
  auth: null,
  functions: null,
  slots: null, // { kind, request, result }: the last slots shown ("days" or "first" available)
  booking: null, // the last booking made here: a createBooking result, updated by the others
  moving: false, // "Move to…" pressed: the slot buttons rearrange instead of book
  db: null,
  watching: { enquiryId: null, stop: null }, // the onSnapshot listener on the booking's enquiry
};

// -- start --------------------------------------------------------------------------------------

async function main() {
  const config = await (await fetch("config.json")).json();
  state.config = config;
  const app = initializeApp({ projectId: config.project, apiKey: config.apiKey });
  state.auth = getAuth(app);
  connectAuthEmulator(state.auth, config.authUrl, { disableWarnings: true });
  state.functions = getFunctions(app, config.region);
  connectFunctionsEmulator(state.functions, config.functions.host, config.functions.port);
  state.db = getFirestore(app);
  connectFirestoreEmulator(state.db, config.firestore.host, config.firestore.port);
  const { host, port } = config.functions;
  byId("where").textContent =
    `project ${config.project} · functions http://${host}:${port} (${config.region})` +
    ` · auth ${config.authUrl} · this page ${location.origin}`;

  fillForms(config);
  wire();
  onAuthStateChanged(state.auth, (user) => showUser(user).catch((e) => showError("auth", e)));
  await state.auth.authStateReady();
  root.dataset.ready = "true";
}

function fillForms(config) {
  const users = byId("user");
  config.users.forEach((user, i) => {
    users.append(new Option(`${user.email} (customer ${user.customerId})`, String(i)));
  });
  pickUser(0);

  const suppliers = byId("supplier");
  for (const supplier of config.suppliers) {
    suppliers.append(new Option(`${supplier.name} · ${supplier.id}`, supplier.id));
  }

  const types = byId("service-types");
  for (const code of config.serviceTypes) {
    const box = el("input", { type: "checkbox", value: code, "data-testid": `service-${code}` });
    box.checked = code === "SERVICE";
    types.append(el("label", { class: "check" }, box, ` ${code}`));
  }

  const optional = byId("optional-service");
  optional.append(new Option("(none)", ""));
  for (const code of config.optionalServices) {
    optional.append(new Option(code, code));
  }

  byId("date").value = nextWeekday(new Date());
  markUnmapped();
}

function wire() {
  byId("user").addEventListener("change", (e) => pickUser(Number(e.target.value)));
  byId("signin-form").addEventListener("submit", action(signIn));
  byId("signout").addEventListener(
    "click",
    action(() => attempt("signOut", () => signOut(state.auth))),
  );
  byId("supplier").addEventListener("change", markUnmapped);
  byId("optional-service").addEventListener("change", (e) => {
    byId("address").hidden = e.target.value !== "COLLECTION_AND_DELIVERY";
  });
  byId("availability-form").addEventListener(
    "submit",
    action(() => showSlots()),
  );
  byId("first-available").addEventListener(
    "click",
    action(() => showFirstAvailable()),
  );
  byId("move").addEventListener("click", action(startMoving));
  byId("move-stop").addEventListener("click", () => setMoving(false));
  byId("cancel").addEventListener("click", action(cancel));
}

/**
 * What a click or submit does: the page is busy (buttons inert, `data-busy` on <main>) until
 * the work and every call it makes are done. A bug is shown and then rethrown.
 */
function action(work) {
  return async (event) => {
    event?.preventDefault();
    root.dataset.busy = "true";
    try {
      await work();
    } catch (error) {
      showError("console", error);
      throw error;
    } finally {
      root.dataset.busy = "false";
    }
  };
}

// -- signing in ---------------------------------------------------------------------------------

function pickUser(index) {
  const user = state.config.users[index];
  byId("user").value = String(index);
  byId("email").value = user.email;
  byId("password").value = user.password;
}

async function signIn() {
  const email = byId("email").value;
  const password = byId("password").value;
  if (await attempt("signIn", () => signInWithEmailAndPassword(state.auth, email, password))) {
    logCall("signIn", email);
  }
}

async function showUser(user) {
  const who = byId("whoami");
  if (!user) {
    who.textContent = "signed out";
    who.dataset.email = "";
    return;
  }
  const { claims } = await user.getIdTokenResult();
  who.textContent = `signed in as ${user.email} · customerId ${claims.customerId ?? "(none)"}`;
  who.dataset.email = user.email;
}

// -- the callables -------------------------------------------------------------------------------

function availabilityRequest() {
  const request = {
    supplierId: byId("supplier").value,
    date: byId("date").value,
    days: Number(byId("days").value),
    serviceTypes: [...byId("service-types").querySelectorAll("input:checked")].map((b) => b.value),
  };
  const optional = byId("optional-service").value;
  if (optional) {
    request.optionalService = optional;
  }
  return request;
}

async function showSlots(request = availabilityRequest()) {
  const result = await call("getAvailability", request);
  if (result) {
    state.slots = { kind: "days", request, result };
    renderSlots();
  }
}

/** The form's supplier and services; its date is where the search starts. */
function firstAvailableRequest() {
  const { supplierId, serviceTypes, optionalService, date } = availabilityRequest();
  const request = {
    supplierId,
    serviceTypes,
    withinDays: Number(byId("within-days").value),
    count: Number(byId("count").value),
  };
  if (date) {
    request.from = date;
  }
  if (optionalService) {
    request.optionalService = optionalService;
  }
  return request;
}

async function showFirstAvailable(request = firstAvailableRequest()) {
  const result = await call(
    "findFirstAvailable",
    request,
    (r) => `${r.slots.length} slots in ${r.daysSearched} days`,
  );
  if (result) {
    state.slots = { kind: "first", request, result };
    renderSlots();
  }
}

/** The slots shown again as they now are, by the call that found them. */
async function refreshSlots() {
  const { kind, request } = state.slots;
  await (kind === "first" ? showFirstAvailable(request) : showSlots(request));
}

async function book(slot) {
  const { request } = state.slots;
  const form = new FormData(byId("details-form"));
  const data = {
    idempotencyKey: newKey(), // one per booking meant; the console never retries
    supplierId: request.supplierId,
    serviceTypes: request.serviceTypes,
    slot: slotOf(slot),
    vehicle: { registration: form.get("registration") },
    contact: { givenName: form.get("givenName"), familyName: form.get("familyName") },
  };
  if (form.get("email")) {
    data.contact.email = form.get("email");
  }
  if (request.optionalService) {
    data.optionalService = request.optionalService;
  }
  if (request.optionalService === "COLLECTION_AND_DELIVERY") {
    data.collectionAddress = {
      line1: form.get("line1"),
      city: form.get("city"),
      postalCode: form.get("postalCode"),
    };
  }
  const result = await call("createBooking", data, (r) => r.status);
  if (result) {
    state.booking = { ...result, supplierId: request.supplierId, previousAppointmentId: null };
    await afterChange();
  }
}

async function rearrange(slot) {
  const result = await call(
    "rearrangeBooking",
    { idempotencyKey: newKey(), enquiryId: state.booking.enquiryId, slot: slotOf(slot) },
    (r) => r.status,
  );
  if (result) {
    // rearrangeBooking's result has no appointmentReference: the old one no longer applies.
    state.booking = { ...state.booking, ...result, appointmentReference: undefined };
    await afterChange();
  }
}

async function cancel() {
  const { enquiryId } = state.booking;
  const result = await call(
    "cancelBooking",
    { enquiryId, reason: "cancelled in the dev console" },
    (r) => r.status,
  );
  if (result) {
    state.booking = { ...state.booking, status: result.status };
    await afterChange();
  }
}

/**
 * How the Web UI learns of a change the dealer made in the DMS: it listens to its enquiry
 * (firestore.rules let a customer read their own). Our own calls' results already show on
 * the card, so only a change whose last history entry is by the DMS is taken from here.
 */
function watchEnquiry() {
  const enquiryId = state.booking?.enquiryId ?? null;
  if (state.watching.enquiryId === enquiryId) {
    return;
  }
  state.watching.stop?.();
  state.watching = { enquiryId, stop: null };
  if (!enquiryId) {
    return;
  }
  const enquiry = doc(state.db, "enquiries", enquiryId);
  state.watching.stop = onSnapshot(
    enquiry,
    (snapshot) => {
      const data = snapshot.data();
      const last = data?.history?.at(-1);
      if (!data || last?.by !== "DMS" || state.booking?.enquiryId !== enquiryId) {
        return;
      }
      state.booking = { ...state.booking, status: data.status, slot: data.slot, dmsChange: last };
      renderBooking();
    },
    (error) => showError("onSnapshot", error),
  );
}

/** After a booking changed: the card, and the slots again as they now are. */
async function afterChange() {
  state.moving = false;
  renderBooking();
  if (state.slots) {
    await refreshSlots();
  }
}

async function startMoving() {
  setMoving(true);
  const supplierId = state.booking.supplierId;
  if (state.slots?.request.supplierId !== supplierId) {
    byId("supplier").value = supplierId; // a booking moves within its supplier's diary
    markUnmapped();
    await showSlots();
  }
}

function setMoving(moving) {
  state.moving = moving;
  renderBooking();
  renderSlots();
}

/**
 * One callable through the SDK, as the Web UI calls it. Returns the result's data, or null
 * after showing the FunctionsError in the error panel.
 */
async function call(name, data, outcome = () => "ok") {
  return attempt(name, async () => {
    const { data: result } = await httpsCallable(state.functions, name)(data);
    logCall(name, outcome(result));
    return result;
  });
}

/** `work()`'s value, or null after showing its error in the error panel. */
async function attempt(name, work) {
  hideError();
  try {
    return await work();
  } catch (error) {
    showError(name, error);
    logCall(name, `${error.code} ${error.details?.reason ?? ""}`.trim(), true);
    return null;
  }
}

// -- rendering ----------------------------------------------------------------------------------

function renderSlots() {
  const box = byId("slots");
  if (!state.slots) {
    return;
  }
  const { kind, request, result } = state.slots;
  const supplier = state.config.suppliers.find((s) => s.id === request.supplierId);
  const booking = state.booking;
  const moveHere = state.moving && booking?.supplierId === request.supplierId;
  const summary = el(
    "p",
    { class: "hint", "data-testid": "slots-for", "data-kind": kind },
    `${supplier?.name ?? request.supplierId} · ${request.serviceTypes.join(", ")}` +
      `${request.optionalService ? ` + ${request.optionalService}` : ""} · ${result.timezone}`,
  );
  const shown = kind === "first" ? firstAvailableDays(result) : result.days;
  const days = shown.map((day) => {
    const section = el(
      "div",
      { class: "day", "data-testid": "day", "data-date": day.date },
      el("h3", {}, `${weekday(day.date)} ${day.date}`),
    );
    if (day.unavailable) {
      section.append(el("p", { class: "hint" }, "unavailable: Keyloop failed for this day"));
    } else if (day.slots.length === 0) {
      section.append(el("p", { class: "hint" }, "no free slots"));
    }
    const list = el("ul");
    for (const slot of day.slots) {
      const mine =
        booking?.status === "BOOKED" &&
        booking.supplierId === request.supplierId &&
        Date.parse(booking.slot.start) === Date.parse(slot.start);
      const time = el("span", { class: "time", title: `${slot.start} → ${slot.end ?? "?"}` });
      time.textContent = slot.label;
      const item = el("li", { "data-testid": "slot", "data-start": slot.start }, time);
      const button = moveHere
        ? el("button", { type: "button", "data-testid": "move-here" }, "Move here")
        : el("button", { type: "button", "data-testid": "book" }, "Book");
      button.addEventListener(
        "click",
        action(() => (moveHere ? rearrange(slot) : book(slot))),
      );
      button.disabled = moveHere && mine;
      item.append(button);
      if (mine) {
        item.classList.add("mine");
        item.append(el("span", { class: "hint" }, "this booking"));
      }
      list.append(item);
    }
    section.append(list);
    return section;
  });
  const found = kind === "first" ? [firstAvailableSummary(result)] : [];
  box.replaceChildren(summary, ...found, ...days);
}

/** findFirstAvailable's slots as the days view shows them: grouped by their day. */
function firstAvailableDays(result) {
  const days = [];
  for (const slot of result.slots) {
    if (days.at(-1)?.date !== slot.date) {
      days.push({ date: slot.date, slots: [] });
    }
    days.at(-1).slots.push(slot);
  }
  return days;
}

function firstAvailableSummary(result) {
  const unavailable = result.unavailableDays.length
    ? ` · unavailable (Keyloop failed): ${result.unavailableDays.join(", ")}`
    : "";
  const found = result.slots.length ? `first ${result.slots.length} free slots` : "no free slots";
  return el(
    "p",
    {
      "data-testid": "first-available-summary",
      "data-found": String(result.slots.length),
      "data-searched": String(result.daysSearched),
    },
    `${found} in ${result.daysSearched} days searched, ` +
      `${result.searchedFrom} → ${result.searchedTo}${unavailable}`,
  );
}

function renderBooking() {
  const card = byId("booking");
  const booking = state.booking;
  card.hidden = !booking;
  if (!booking) {
    return;
  }
  const status = byId("booking-status");
  status.textContent = booking.status;
  status.dataset.status = booking.status;
  byId("booking-enquiry").textContent = booking.enquiryId;
  byId("booking-appointment").textContent = booking.appointmentId;
  byId("booking-reference").textContent =
    booking.appointmentReference ??
    (booking.appointmentReference === null ? "— (Keyloop gave none)" : "— (not in the result)");
  byId("booking-supplier").textContent = booking.supplierId;
  byId("booking-slot").textContent = `${booking.slot.start} → ${booking.slot.end ?? "?"}`;
  byId("booking-slot").dataset.start = booking.slot.start;
  byId("booking-previous").textContent = booking.previousAppointmentId ?? "—";
  const change = booking.dmsChange;
  const dealer = byId("booking-dms-change");
  dealer.textContent = change ? `${change.action} (by the dealer, in the DMS)` : "—";
  dealer.dataset.action = change?.action ?? "";
  watchEnquiry();
  byId("move-hint").hidden = !state.moving;
  byId("move").disabled = state.moving;
}

/** A FunctionsError (or an Auth error) exactly as the SDK gives it. */
function showError(name, error) {
  byId("error").hidden = false;
  byId("error-call").textContent = name;
  byId("error-code").textContent = error.code ?? "(no code)";
  byId("error-message").textContent = error.message;
  byId("error-reason").textContent = error.details?.reason ?? "—";
  const fields = (error.details?.fields ?? []).map((f) =>
    el("li", { "data-testid": "error-field", "data-path": f.path }, `${f.path}: ${f.message}`),
  );
  byId("error-fields").replaceChildren(...(fields.length ? fields : [el("li", {}, "—")]));
}

function hideError() {
  byId("error").hidden = true;
}

function logCall(name, outcome, failed = false) {
  const calls = byId("calls");
  const item = el("li", { class: failed ? "failed" : "ok" }, `${name} → ${outcome}`);
  calls.prepend(item);
  while (calls.children.length > MAX_CALLS_SHOWN) {
    calls.lastElementChild.remove();
  }
}

/** Service types the chosen supplier does not map stay selectable (to see the error). */
function markUnmapped() {
  const supplier = state.config.suppliers.find((s) => s.id === byId("supplier").value);
  for (const box of byId("service-types").querySelectorAll("input")) {
    const unmapped = !supplier?.serviceTypes.includes(box.value);
    box.parentElement.classList.toggle("unmapped", unmapped);
    box.parentElement.title = unmapped ? "not mapped by this supplier" : "";
  }
}

// -- small helpers ------------------------------------------------------------------------------

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

const slotOf = (slot) => (slot.end ? { start: slot.start, end: slot.end } : { start: slot.start });

/** An idempotency key (crypto.randomUUID needs a secure context; a LAN address is not one). */
function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `console-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** The next Monday-to-Friday after `today` (local), as YYYY-MM-DD: both demo stores open. */
function nextWeekday(today) {
  const day = new Date(today.getFullYear(), today.getMonth(), today.getDate() + 1);
  while (day.getDay() === 0 || day.getDay() === 6) {
    day.setDate(day.getDate() + 1);
  }
  const pad = (n) => String(n).padStart(2, "0");
  return `${day.getFullYear()}-${pad(day.getMonth() + 1)}-${pad(day.getDate())}`;
}

function weekday(isoDate) {
  const noon = new Date(`${isoDate}T12:00:00Z`);
  return noon.toLocaleDateString("en-GB", { weekday: "short", timeZone: "UTC" });
}

main().catch((error) => {
  byId("where").textContent = `could not start: ${error.message}`;
  showError("start", error);
});
