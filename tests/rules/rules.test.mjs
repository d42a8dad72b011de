// firestore.rules against the Firestore emulator, as a Web UI client sees them.
//
// Needs FIRESTORE_EMULATOR_HOST (tests/rules/test_rules.py starts the emulator and runs this).
// The Google Cloud CLI's emulator does not take rules over its API (the PUT to
// /emulator/v1/projects/P:securityRules that rules-unit-testing makes answers 404), so the
// wrapper starts it with --rules=firestore.rules and sets FIRESTORE_RULES_PRELOADED=1. Without
// that variable the rules are pushed (the firebase-tools emulator accepts them). Either way
// the first test proves the rules are in force: the emulator without rules allows everything.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, beforeEach, describe, test } from 'node:test';

import {
  assertFails,
  assertSucceeds,
  initializeTestEnvironment,
} from '@firebase/rules-unit-testing';
import {
  collection,
  deleteDoc,
  doc,
  getDoc,
  getDocs,
  query,
  setDoc,
  setLogLevel,
  updateDoc,
  where,
} from 'firebase/firestore';

const PROJECT = 'demo-visn-rules';
const RULES = new URL('../../firestore.rules', import.meta.url);
const TIMEOUT = { timeout: 20_000 };

const enquiry = (customerId, status = 'BOOKED') => ({
  customerId,
  supplierId: 'keyloop-leeds',
  status,
  appointmentId: `appt-${customerId}`,
  vehicle: { registration: 'AB12CDE' },
});

// Every document a test may touch, written with the rules off before each test.
const SEED = {
  'suppliers/keyloop-leeds': {
    name: 'Leeds',
    timezone: 'Europe/London',
    liveDiaryProvider: {
      provider: 'KEYLOOP',
      groupMappingId: 'ENT-1001',
      supplierMappingId: 'STORE-01',
      serviceTypeMapping: { SERVICE: 'PRD-1' },
    },
  },
  'enquiries/enq-a1': enquiry('cust-a'),
  'enquiries/enq-a2': enquiry('cust-a', 'CANCELLED'),
  'enquiries/enq-b1': enquiry('cust-b'),
  'enquiries/enq-blank': enquiry(' '),
  'bookingOperations/op-a1': { customerId: 'cust-a', uid: 'alice', state: 'COMPLETED' },
  'compensations/comp-a1': { customerId: 'cust-a', appointmentId: 'appt-x', state: 'OWED' },
  'users/alice': { customerId: 'cust-a' },
  'rateLimits/booking-user-x-1': { count: 3 },
  'enquiries/enq-a1/history/h1': { at: 'then' },
};

let testEnv;

// The users: Alice and Ann act for customer A, Bob for customer B; Nemo has no customer.
const alice = () => testEnv.authenticatedContext('alice', { customerId: 'cust-a' }).firestore();
const ann = () => testEnv.authenticatedContext('ann', { customerId: 'cust-a' }).firestore();
const bob = () => testEnv.authenticatedContext('bob', { customerId: 'cust-b' }).firestore();
const nemo = () => testEnv.authenticatedContext('nemo').firestore();
const anon = () => testEnv.unauthenticatedContext().firestore();

before(async () => {
  const address = process.env.FIRESTORE_EMULATOR_HOST;
  assert.ok(address, 'FIRESTORE_EMULATOR_HOST is not set: run tests/rules/test_rules.py');
  const [host, port] = address.split(':');
  const firestore = { host, port: Number(port) };
  if (process.env.FIRESTORE_RULES_PRELOADED !== '1') {
    firestore.rules = fs.readFileSync(RULES, 'utf8');
  }
  setLogLevel('error'); // every denial would otherwise log a warning
  testEnv = await initializeTestEnvironment({ projectId: PROJECT, firestore });
});

beforeEach(async () => {
  await testEnv.clearFirestore();
  await testEnv.withSecurityRulesDisabled(async (context) => {
    const db = context.firestore();
    for (const [path, data] of Object.entries(SEED)) {
      await setDoc(doc(db, path), data);
    }
  });
});

after(async () => {
  await testEnv?.cleanup();
});

describe('the rules are in force', TIMEOUT, () => {
  test('a signed-out read of an existing enquiry is denied (no rules would allow it)', async () => {
    let seeded;
    await testEnv.withSecurityRulesDisabled(async (context) => {
      seeded = await getDoc(doc(context.firestore(), 'enquiries/enq-a1'));
    });
    assert.equal(seeded.exists(), true);
    await assertFails(getDoc(doc(anon(), 'enquiries/enq-a1')));
  });
});

describe('enquiries: reads', TIMEOUT, () => {
  test("a user reads their own customer's enquiry", async () => {
    const snapshot = await assertSucceeds(getDoc(doc(alice(), 'enquiries/enq-a1')));
    assert.equal(snapshot.data().customerId, 'cust-a');
  });

  test("another user of the same customer reads it too (customers share enquiries)", async () => {
    await assertSucceeds(getDoc(doc(ann(), 'enquiries/enq-a1')));
  });

  test("a user cannot read another customer's enquiry", async () => {
    await assertFails(getDoc(doc(alice(), 'enquiries/enq-b1')));
    await assertFails(getDoc(doc(bob(), 'enquiries/enq-a1')));
  });

  test('an enquiry that does not exist is denied, like another customer\'s', async () => {
    await assertFails(getDoc(doc(alice(), 'enquiries/no-such-enquiry')));
  });

  test('a signed-out read is denied', async () => {
    await assertFails(getDoc(doc(anon(), 'enquiries/enq-a1')));
  });

  test('a user without a customerId claim is denied', async () => {
    await assertFails(getDoc(doc(nemo(), 'enquiries/enq-a1')));
  });

  test('a customerId claim that is blank or not a string is denied', async () => {
    const blank = testEnv.authenticatedContext('blank', { customerId: ' ' }).firestore();
    await assertFails(getDoc(doc(blank, 'enquiries/enq-blank')));
    const numeric = testEnv.authenticatedContext('numeric', { customerId: 7 }).firestore();
    await assertFails(getDoc(doc(numeric, 'enquiries/enq-a1')));
  });

  test("a query constrained to the user's customer is allowed and sees only its enquiries", async () => {
    const q = query(collection(alice(), 'enquiries'), where('customerId', '==', 'cust-a'));
    const snapshot = await assertSucceeds(getDocs(q));
    assert.deepEqual(snapshot.docs.map((d) => d.id).sort(), ['enq-a1', 'enq-a2']);
  });

  test('the same query with a further filter is allowed', async () => {
    const q = query(
      collection(alice(), 'enquiries'),
      where('customerId', '==', 'cust-a'),
      where('status', '==', 'BOOKED'),
    );
    const snapshot = await assertSucceeds(getDocs(q));
    assert.deepEqual(snapshot.docs.map((d) => d.id), ['enq-a1']);
  });

  test('an unconstrained query on enquiries is denied', async () => {
    await assertFails(getDocs(collection(alice(), 'enquiries')));
  });

  test("a query on another customer's id, or on another field only, is denied", async () => {
    await assertFails(
      getDocs(query(collection(alice(), 'enquiries'), where('customerId', '==', 'cust-b'))),
    );
    await assertFails(
      getDocs(query(collection(alice(), 'enquiries'), where('status', '==', 'BOOKED'))),
    );
  });

  test('signed-out and claimless users cannot query enquiries at all', async () => {
    for (const db of [anon(), nemo()]) {
      await assertFails(
        getDocs(query(collection(db, 'enquiries'), where('customerId', '==', 'cust-a'))),
      );
    }
  });
});

// Writes are the callables' job (Admin SDK): no client may write, not even its own customer's.
for (const name of ['enquiries', 'bookingOperations', 'compensations', 'rateLimits']) {
  const existing = {
    enquiries: 'enq-a1',
    bookingOperations: 'op-a1',
    compensations: 'comp-a1',
    rateLimits: 'booking-user-x-1',
  }[name];
  describe(`${name}: no client writes`, TIMEOUT, () => {
    test('create is denied, even for the own customer', async () => {
      await assertFails(setDoc(doc(alice(), `${name}/new-doc`), enquiry('cust-a')));
      await assertFails(setDoc(doc(anon(), `${name}/new-doc`), enquiry('cust-a')));
    });

    test('update and overwrite are denied', async () => {
      await assertFails(updateDoc(doc(alice(), `${name}/${existing}`), { status: 'CANCELLED' }));
      await assertFails(setDoc(doc(alice(), `${name}/${existing}`), enquiry('cust-a')));
      await assertFails(
        setDoc(doc(alice(), `${name}/${existing}`), { note: 'x' }, { merge: true }),
      );
    });

    test('delete is denied', async () => {
      await assertFails(deleteDoc(doc(alice(), `${name}/${existing}`)));
    });
  });
}

describe('bookingOperations, compensations and rateLimits: no client reads', TIMEOUT, () => {
  for (const path of [
    'bookingOperations/op-a1',
    'compensations/comp-a1',
    'rateLimits/booking-user-x-1',
  ]) {
    test(`${path} cannot be read, even by its own customer`, async () => {
      await assertFails(getDoc(doc(alice(), path)));
      await assertFails(getDoc(doc(anon(), path)));
    });

    test(`${path.split('/')[0]} cannot be listed, constrained or not`, async () => {
      const c = collection(alice(), path.split('/')[0]);
      await assertFails(getDocs(c));
      await assertFails(getDocs(query(c, where('customerId', '==', 'cust-a'))));
    });
  }
});

describe('suppliers', TIMEOUT, () => {
  test('a user acting for a fleet customer reads supplier documents, every field', async () => {
    const snapshot = await assertSucceeds(getDoc(doc(alice(), 'suppliers/keyloop-leeds')));
    // Rules cannot hide fields: the Keyloop mapping is readable too (docs/api.md says so).
    assert.deepEqual(snapshot.data(), SEED['suppliers/keyloop-leeds']);
    await assertSucceeds(getDoc(doc(bob(), 'suppliers/keyloop-leeds')));
    await assertSucceeds(getDocs(collection(alice(), 'suppliers')));
  });

  test('a signed-in user without a customerId claim is denied (issue 14)', async () => {
    await assertFails(getDoc(doc(nemo(), 'suppliers/keyloop-leeds')));
    await assertFails(getDocs(collection(nemo(), 'suppliers')));
    const blank = testEnv.authenticatedContext('blank', { customerId: ' ' }).firestore();
    await assertFails(getDoc(doc(blank, 'suppliers/keyloop-leeds')));
    const numeric = testEnv.authenticatedContext('numeric', { customerId: 7 }).firestore();
    await assertFails(getDoc(doc(numeric, 'suppliers/keyloop-leeds')));
  });

  test('a signed-out read is denied', async () => {
    await assertFails(getDoc(doc(anon(), 'suppliers/keyloop-leeds')));
    await assertFails(getDocs(collection(anon(), 'suppliers')));
  });

  test('no client writes supplier config', async () => {
    await assertFails(setDoc(doc(alice(), 'suppliers/new-supplier'), { name: 'x' }));
    await assertFails(updateDoc(doc(alice(), 'suppliers/keyloop-leeds'), { name: 'x' }));
    await assertFails(deleteDoc(doc(alice(), 'suppliers/keyloop-leeds')));
    await assertFails(setDoc(doc(anon(), 'suppliers/new-supplier'), { name: 'x' }));
  });
});

describe('everything else is denied', TIMEOUT, () => {
  test('another collection', async () => {
    await assertFails(getDoc(doc(alice(), 'users/alice')));
    await assertFails(setDoc(doc(alice(), 'users/alice'), { customerId: 'cust-a' }));
  });

  test("a subcollection of the user's own enquiry", async () => {
    await assertFails(getDoc(doc(alice(), 'enquiries/enq-a1/history/h1')));
    await assertFails(setDoc(doc(alice(), 'enquiries/enq-a1/history/h2'), { at: 'now' }));
  });
});
