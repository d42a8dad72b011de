// Our rules block (firestore/live-diary.rules), merged into a complete rules file, against the
// Firestore emulator as a Web UI client sees it.
//
// tests/rules/test_rules.py assembles the file (the block inside a stand-in for ViSN's own
// rules), starts the Google Cloud CLI's emulator with --rules=<that file> (it does not take
// rules over its API: the PUT rules-unit-testing makes answers 404), and runs this with
// FIRESTORE_EMULATOR_HOST and OUR_COLLECTIONS (visn/records/namespace.py's names, comma-separated).
// Whether the block changes anything outside our collections is probe.mjs's question.

import assert from 'node:assert/strict';
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

const TIMEOUT = { timeout: 20_000 };
const OURS = (process.env.OUR_COLLECTIONS ?? '').split(',').filter(Boolean);

let testEnv;

const alice = () => testEnv.authenticatedContext('alice', { customerId: 'cust-a' }).firestore();
const nemo = () => testEnv.authenticatedContext('nemo').firestore();
const anon = () => testEnv.unauthenticatedContext().firestore();

before(async () => {
  const address = process.env.FIRESTORE_EMULATOR_HOST;
  assert.ok(address, 'FIRESTORE_EMULATOR_HOST is not set: run tests/rules/test_rules.py');
  assert.ok(OURS.length > 0, 'OUR_COLLECTIONS is not set: run tests/rules/test_rules.py');
  const [host, port] = address.split(':');
  setLogLevel('error'); // every denial would otherwise log a warning
  testEnv = await initializeTestEnvironment({
    projectId: process.env.GCLOUD_PROJECT,
    firestore: { host, port: Number(port) },
  });
});

beforeEach(async () => {
  await testEnv.clearFirestore();
  await testEnv.withSecurityRulesDisabled(async (context) => {
    const db = context.firestore();
    await setDoc(doc(db, 'enquiries/enq-a1'), { customerId: 'cust-a', status: 'BOOKED' });
    await setDoc(doc(db, 'suppliers/keyloop-leeds'), {
      name: 'Leeds',
      liveDiaryProvider: { provider: 'KEYLOOP', groupMappingId: 'ENT-1001' },
    });
    for (const name of OURS) {
      await setDoc(doc(db, `${name}/doc-a1`), { customerId: 'cust-a', uid: 'alice' });
    }
  });
});

after(async () => {
  await testEnv?.cleanup();
});

describe('the rules are in force', TIMEOUT, () => {
  test("a signed-out read of an existing enquiry is denied (no rules would allow it)", async () => {
    let seeded;
    await testEnv.withSecurityRulesDisabled(async (context) => {
      seeded = await getDoc(doc(context.firestore(), 'enquiries/enq-a1'));
    });
    assert.equal(seeded.exists(), true);
    await assertFails(getDoc(doc(anon(), 'enquiries/enq-a1')));
  });

  test("ViSN's own rules answer too: a customer reads its own enquiry", async () => {
    await assertSucceeds(getDoc(doc(alice(), 'enquiries/enq-a1')));
  });
});

// Supplier records are ViSN's, and carry Keyloop ids: the rule we ask ViSN for (docs/deploy.md,
// "Rules"), which the stand-in has, lets only users acting for a fleet customer read them.
describe("suppliers: read only with the customerId claim", TIMEOUT, () => {
  test('a customer user reads a supplier (the whole document: rules cannot hide fields)', async () => {
    const snapshot = await assertSucceeds(getDoc(doc(alice(), 'suppliers/keyloop-leeds')));
    assert.equal(snapshot.data().liveDiaryProvider.provider, 'KEYLOOP');
  });

  test('a signed-in user without the claim, or a blank one, does not; nor does anyone signed out', async () => {
    const blank = testEnv.authenticatedContext('blank', { customerId: ' ' }).firestore();
    for (const db of [nemo(), blank, anon()]) {
      await assertFails(getDoc(doc(db, 'suppliers/keyloop-leeds')));
    }
  });

  test('no client writes one', async () => {
    await assertFails(setDoc(doc(alice(), 'suppliers/keyloop-leeds'), { name: 'x' }));
  });
});

for (const name of OURS) {
  describe(`${name}: server only`, TIMEOUT, () => {
    test('no client reads a document, even its own customer\'s', async () => {
      for (const db of [alice(), nemo(), anon()]) {
        await assertFails(getDoc(doc(db, `${name}/doc-a1`)));
      }
    });

    test('no client lists or queries, constrained or not', async () => {
      const c = collection(alice(), name);
      await assertFails(getDocs(c));
      await assertFails(getDocs(query(c, where('customerId', '==', 'cust-a'))));
    });

    test('no client creates, updates, overwrites or deletes', async () => {
      await assertFails(setDoc(doc(alice(), `${name}/new-doc`), { customerId: 'cust-a' }));
      await assertFails(setDoc(doc(anon(), `${name}/new-doc`), { customerId: 'cust-a' }));
      await assertFails(updateDoc(doc(alice(), `${name}/doc-a1`), { status: 'DONE' }));
      await assertFails(setDoc(doc(alice(), `${name}/doc-a1`), { x: 1 }, { merge: true }));
      await assertFails(deleteDoc(doc(alice(), `${name}/doc-a1`)));
    });

    test('nor anything beneath it', async () => {
      await assertFails(getDoc(doc(alice(), `${name}/doc-a1/notes/n1`)));
      await assertFails(setDoc(doc(alice(), `${name}/doc-a1/notes/n1`), { x: 1 }));
    });
  });
}
