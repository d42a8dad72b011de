// The Web UI's journeys through the official Firebase JS SDK, against the emulators.
//
// tests/e2e/test_stack.py runs this (`node --test tests/e2e/`) against a stack it started on
// free ports, passing devtools.stack's description in VISN_STACK. By hand, against `make dev`:
//   node --test tests/e2e/        (reads dev/demo-visn/stack.json)
// Every journey leaves nothing booked, so it can run again against the same stack. After each
// step the sandbox's appointment and the Firestore enquiry are checked against each other.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";

import { deleteApp, initializeApp } from "firebase/app";
import { connectAuthEmulator, getAuth, signInWithEmailAndPassword } from "firebase/auth";
import { connectFunctionsEmulator, getFunctions, httpsCallable } from "firebase/functions";

import { bookableDate, getJson } from "../node_helpers.mjs";

const stack = JSON.parse(
  process.env.VISN_STACK ??
    readFileSync(new URL("../../dev/demo-visn/stack.json", import.meta.url), "utf8"),
);
const [userA, userB] = stack.users; // two users of two fleet customers
const { uk: UK, ie: IE } = stack.suppliers; // IE: a Keyloop store with localTimes, capacity 1
const TIMEOUT = { timeout: 60_000 }; // a hung call fails the test instead of the whole run

const apps = [];

async function client(name, user) {
  const app = initializeApp({ projectId: stack.project, apiKey: "demo-key" }, name);
  apps.push(app);
  const auth = getAuth(app);
  connectAuthEmulator(auth, `http://${stack.host}:${stack.authPort}`, { disableWarnings: true });
  if (user) {
    await signInWithEmailAndPassword(auth, user.email, user.password);
  }
  const functions = getFunctions(app, stack.region);
  connectFunctionsEmulator(functions, stack.host, stack.functionsPort);
  return async (callable, data) => (await httpsCallable(functions, callable)(data)).data;
}

let alice; // customer A
let bob; // customer B
let nobody; // signed out

before(async () => {
  alice = await client("alice", userA);
  bob = await client("bob", userB);
  nobody = await client("nobody", null);
});

after(async () => {
  await Promise.all(apps.map((app) => deleteApp(app)));
});

// -- helpers ----------------------------------------------------------------------------------

async function availability(call, supplierId, date) {
  const result = await call("getAvailability", { supplierId, date, serviceTypes: ["SERVICE"] });
  assert.equal(result.supplierId, supplierId);
  assert.equal(result.days.length, 1);
  assert.equal(result.days[0].date, date);
  const { slots } = result.days[0];
  assert.ok(slots.length >= 2, `open slots on ${date}`);
  for (const slot of slots) {
    assert.match(slot.start, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/);
    assert.equal(slot.label, slot.start.slice(11, 16));
  }
  return slots;
}

function booking(supplierId, slot, overrides = {}) {
  return {
    idempotencyKey: randomUUID(),
    supplierId,
    serviceTypes: ["SERVICE"],
    slot: { start: slot.start, end: slot.end },
    vehicle: { registration: "AB12 CDE" },
    contact: { givenName: "Ada", familyName: "Lovelace" },
    ...overrides,
  };
}

/** The call fails with this SDK code and `details.reason`; returns the error. */
async function failsWith(promise, code, reason) {
  let error;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  assert.ok(error, `expected ${code} / ${reason}, got a result`);
  assert.equal(error.code, code, error.message);
  assert.equal(error.details?.reason, reason);
  return error;
}

const appointments = async () =>
  (await getJson(`${stack.sandboxUrl}/_sandbox/appointments`)).appointments;

// Repair-order reads are keyloopEvents reading back the sandbox's events, in the background.
const upstreamRequests = async () =>
  (await getJson(`${stack.sandboxUrl}/_sandbox/requests`)).requests.filter(
    (r) => r.endpoint !== "repairOrder",
  ).length;

const documents = `http://${stack.firestoreHost}/v1/projects/${stack.project}/databases/(default)/documents`;
const OWNER = { Authorization: "Bearer owner" }; // the emulator's admin bearer

function decode(value) {
  const [[kind, inner]] = Object.entries(value);
  if (kind === "mapValue") {
    return Object.fromEntries(Object.entries(inner.fields ?? {}).map(([k, v]) => [k, decode(v)]));
  }
  if (kind === "arrayValue") {
    return (inner.values ?? []).map(decode);
  }
  return kind === "integerValue" ? Number(inner) : inner;
}

async function enquiry(id) {
  const doc = await getJson(`${documents}/enquiries/${id}`, OWNER);
  return doc && decode({ mapValue: doc });
}

async function enquiries() {
  const page = await getJson(`${documents}/enquiries?pageSize=1000`, OWNER);
  return (page?.documents ?? []).map((doc) => decode({ mapValue: doc }));
}

/** The same wall-clock time (a localTimes store) or the same instant. */
function sameSlotStart(enquirySlotStart, dueInDateTime, localTimes) {
  return localTimes
    ? enquirySlotStart.slice(0, 19) === dueInDateTime.slice(0, 19)
    : Date.parse(enquirySlotStart) === Date.parse(dueInDateTime);
}

/** The Firestore enquiry and the sandbox's appointment tell the same story. */
async function assertAgree(enquiryId, { status, customerId, slot }) {
  const record = await enquiry(enquiryId);
  assert.ok(record, `enquiries/${enquiryId} exists`);
  assert.equal(record.status, status);
  assert.equal(record.customerId, customerId);
  assert.equal(Date.parse(record.slot.start), Date.parse(slot.start));
  const all = await appointments();
  const appointment = all.find((a) => a.appointmentId === record.dms.appointmentId);
  assert.ok(appointment, "the enquiry's appointment is in the sandbox");
  assert.equal(appointment.status, status);
  assert.equal(appointment.enterpriseId, record.dms.enterpriseId);
  assert.equal(appointment.storeId, record.dms.storeId);
  assert.ok(
    sameSlotStart(record.slot.start, appointment.dueInDateTime, Boolean(record.dms.localTimeZone)),
    `slot ${record.slot.start} vs dueInDateTime ${appointment.dueInDateTime}`,
  );
  const twins = all.filter(
    (a) => a.status === "BOOKED" && a.externalReference === appointment.externalReference,
  );
  assert.ok(twins.length <= 1, "never two live appointments for one booking");
  return { record, appointment, all };
}

// -- journeys ---------------------------------------------------------------------------------

test("availability → create → cancel", TIMEOUT, async () => {
  const [slot] = await availability(alice, UK, bookableDate(0));
  const created = await alice("createBooking", booking(UK, slot));
  assert.equal(created.status, "BOOKED");
  assert.equal(Date.parse(created.slot.start), Date.parse(slot.start));
  await assertAgree(created.enquiryId, { status: "BOOKED", customerId: "cust-a", slot });

  const cancelled = await alice("cancelBooking", {
    enquiryId: created.enquiryId,
    reason: "changed plans",
  });
  assert.deepEqual(cancelled, { enquiryId: created.enquiryId, status: "CANCELLED" });
  await assertAgree(created.enquiryId, { status: "CANCELLED", customerId: "cust-a", slot });
});

test("availability → create → rearrange → cancel", TIMEOUT, async () => {
  const [first, second] = await availability(alice, UK, bookableDate(1));
  const created = await alice("createBooking", booking(UK, first));
  await assertAgree(created.enquiryId, { status: "BOOKED", customerId: "cust-a", slot: first });

  const moved = await alice("rearrangeBooking", {
    idempotencyKey: randomUUID(),
    enquiryId: created.enquiryId,
    slot: { start: second.start, end: second.end },
  });
  assert.equal(moved.status, "BOOKED");
  assert.equal(moved.enquiryId, created.enquiryId);
  assert.equal(moved.previousAppointmentId, created.appointmentId);
  assert.notEqual(moved.appointmentId, created.appointmentId);
  const { all } = await assertAgree(created.enquiryId, {
    status: "BOOKED",
    customerId: "cust-a",
    slot: second,
  });
  const old = all.find((a) => a.appointmentId === created.appointmentId);
  assert.equal(old.status, "CANCELLED", "the old appointment is cancelled (make before break)");

  await alice("cancelBooking", { enquiryId: created.enquiryId });
  await assertAgree(created.enquiryId, { status: "CANCELLED", customerId: "cust-a", slot: second });
});

// The shared availability cache: a view straight after our own change never shows it undone.
test("our own changes are in the very next view, cached or not; first available agrees", TIMEOUT, async () => {
  const [day, otherDay] = [bookableDate(5), bookableDate(6)];
  const starts = async (call, date) => (await availability(call, IE, date)).map((s) => s.start);
  const [slot] = await availability(alice, IE, day); // capacity 1: a booked slot is gone
  const [target] = await availability(alice, IE, otherDay);
  const sent = await upstreamRequests();
  assert.deepEqual(await starts(bob, day), await starts(alice, day), "one answer for everyone");
  assert.equal(await upstreamRequests(), sent, "answered from the cache");

  const created = await alice("createBooking", booking(IE, slot));
  assert.ok(!(await starts(bob, day)).includes(slot.start), "created: gone at once");

  await alice("rearrangeBooking", {
    idempotencyKey: randomUUID(),
    enquiryId: created.enquiryId,
    slot: { start: target.start, end: target.end },
  });
  assert.ok((await starts(bob, day)).includes(slot.start), "rearranged: the old slot is back");
  assert.ok(!(await starts(bob, otherDay)).includes(target.start), "and the new one gone");

  const cancelled = await alice("cancelBooking", { enquiryId: created.enquiryId });
  assert.equal(cancelled.status, "CANCELLED");
  assert.ok((await starts(bob, otherDay)).includes(target.start), "cancelled: back at once");

  const first = await alice("findFirstAvailable", {
    supplierId: IE,
    serviceTypes: ["SERVICE"],
    from: day,
    count: 2,
  });
  assert.equal(first.searchedFrom, day);
  assert.deepEqual(
    first.slots.map((s) => s.start),
    (await starts(alice, day)).slice(0, 2),
    "the first free slots are the day's first two",
  );
  assert.ok(first.slots.every((s) => s.date === day));
});

test("a create replayed with the same key books once and answers the same", TIMEOUT, async () => {
  const [slot] = await availability(alice, UK, bookableDate(2));
  const request = booking(UK, slot);
  const before = (await appointments()).length;
  const first = await alice("createBooking", request);
  const replay = await alice("createBooking", request);
  assert.deepEqual(replay, first);
  assert.equal((await appointments()).length, before + 1, "one appointment in Keyloop");
  await assertAgree(first.enquiryId, { status: "BOOKED", customerId: "cust-a", slot });

  await alice("cancelBooking", { enquiryId: first.enquiryId });
  await assertAgree(first.enquiryId, { status: "CANCELLED", customerId: "cust-a", slot });
});

// -- error journeys ---------------------------------------------------------------------------

test("signed out: unauthenticated", TIMEOUT, async () => {
  await failsWith(
    nobody("getAvailability", { supplierId: UK, date: bookableDate(0), serviceTypes: ["SERVICE"] }),
    "functions/unauthenticated",
    "UNAUTHENTICATED",
  );
});

test("invalid input: invalid-argument with the fields at fault", TIMEOUT, async () => {
  const [slot] = await availability(alice, UK, bookableDate(0));
  const sentBefore = await upstreamRequests();
  const error = await failsWith(
    alice("createBooking", {
      ...booking(UK, slot, { idempotencyKey: "short" }),
      vehicle: { registration: "ZQ!!XQ" },
      surprise: true,
    }),
    "functions/invalid-argument",
    "VALIDATION",
  );
  const paths = error.details.fields.map((f) => f.path);
  for (const path of ["idempotencyKey", "vehicle.registration", "surprise"]) {
    assert.ok(paths.includes(path), `${path} in ${JSON.stringify(paths)}`);
  }
  for (const field of error.details.fields) {
    assert.ok(!field.message.includes("ZQ!!XQ"), "messages never repeat the value sent");
  }
  assert.equal(await upstreamRequests(), sentBefore, "refused before anything reached Keyloop");

  const unmapped = await failsWith(
    alice("getAvailability", { supplierId: IE, date: bookableDate(0), serviceTypes: ["REPAIR"] }),
    "functions/invalid-argument",
    "UNKNOWN_SERVICE_TYPE",
  );
  assert.deepEqual(
    unmapped.details.fields.map((f) => f.path),
    ["serviceTypes.0"],
  );
});

test("a slot that was just taken: aborted, SLOT_UNAVAILABLE", TIMEOUT, async () => {
  const date = bookableDate(3);
  const [slot] = await availability(alice, IE, date); // capacity 1
  const [seenByBob] = await availability(bob, IE, date);
  assert.equal(seenByBob.start, slot.start);

  const taken = await alice("createBooking", booking(IE, slot));
  const { appointment } = await assertAgree(taken.enquiryId, {
    status: "BOOKED",
    customerId: "cust-a",
    slot,
  });
  await failsWith(
    bob("createBooking", booking(IE, seenByBob)),
    "functions/aborted",
    "SLOT_UNAVAILABLE",
  );
  const bobs = (await enquiries()).filter(
    (e) => e.customerId === "cust-b" && Date.parse(e.slot.start) === Date.parse(slot.start),
  );
  assert.deepEqual(bobs, [], "no enquiry for the booking that failed");
  const live = (await appointments()).filter(
    (a) =>
      a.status === "BOOKED" &&
      a.storeId === appointment.storeId &&
      a.dueInDateTime === appointment.dueInDateTime,
  );
  assert.deepEqual(
    live.map((a) => a.appointmentId),
    [appointment.appointmentId],
    "the slot holds Alice's appointment only",
  );

  await alice("cancelBooking", { enquiryId: taken.enquiryId });
  await assertAgree(taken.enquiryId, { status: "CANCELLED", customerId: "cust-a", slot });
});

test("another customer's enquiry: not-found, as for an id never used", TIMEOUT, async () => {
  const [slot, other] = await availability(alice, UK, bookableDate(4));
  const created = await alice("createBooking", booking(UK, slot));

  await failsWith(
    bob("cancelBooking", { enquiryId: created.enquiryId }),
    "functions/not-found",
    "ENQUIRY_NOT_FOUND",
  );
  await failsWith(
    bob("rearrangeBooking", {
      idempotencyKey: randomUUID(),
      enquiryId: created.enquiryId,
      slot: { start: other.start, end: other.end },
    }),
    "functions/not-found",
    "ENQUIRY_NOT_FOUND",
  );
  await failsWith(
    bob("cancelBooking", { enquiryId: "never-used-enquiry-id" }),
    "functions/not-found",
    "ENQUIRY_NOT_FOUND",
  );
  await assertAgree(created.enquiryId, { status: "BOOKED", customerId: "cust-a", slot });

  await alice("cancelBooking", { enquiryId: created.enquiryId });
  await assertAgree(created.enquiryId, { status: "CANCELLED", customerId: "cust-a", slot });
});

// -- quotas (issue 14) ------------------------------------------------------------------------

// Last in this file: it pins the functions' clock (devtools.stack's clock file, honoured for a
// demo- project only) and always unpins it. A minute of the pinned clock is a fresh window.
test("quota: the call after the limit is resource-exhausted, and passes after the window", TIMEOUT, async () => {
  const { writeFileSync, rmSync } = await import("node:fs");
  const pin = (ms) => writeFileSync(stack.clockFile, new Date(ms).toISOString());
  const minute = 60_000;
  const windowStart = (Math.floor(Date.now() / minute) + 2) * minute; // no call was counted in it
  const view = { supplierId: UK, date: bookableDate(0), days: 14, serviceTypes: ["SERVICE"] };
  try {
    pin(windowStart);
    let granted = 0;
    let refused;
    for (let i = 0; i < 30 && !refused; i += 1) {
      try {
        const result = await alice("getAvailability", view);
        assert.equal(result.days.length, 14);
        granted += 1;
      } catch (error) {
        refused = error;
      }
    }
    assert.ok(granted >= 1, "the first views are served");
    assert.ok(refused, "a view past the per-minute limit is refused");
    assert.equal(refused.code, "functions/resource-exhausted", refused.message);
    assert.equal(refused.details?.reason, "RATE_LIMITED");
    assert.equal(refused.details?.retryAfterSeconds, 60, "the pinned minute has just begun");

    // Refused again, and nothing reached Keyloop for it.
    const sentBefore = await upstreamRequests();
    pin(windowStart + 45_000);
    const again = await failsWith(
      alice("getAvailability", view),
      "functions/resource-exhausted",
      "RATE_LIMITED",
    );
    assert.equal(again.details.retryAfterSeconds, 15);
    assert.equal(await upstreamRequests(), sentBefore, "refused before anything reached Keyloop");

    // Another user's quota is their own.
    assert.equal((await bob("getAvailability", view)).days.length, 14);

    // The clock moves past the window (no sleeping): served again.
    pin(windowStart + minute);
    assert.equal((await alice("getAvailability", view)).days.length, 14);
  } finally {
    rmSync(stack.clockFile, { force: true });
  }
});
