// Asks the running Firestore emulator a fixed set of client questions and prints, as one JSON
// line, whether each was allowed. tests/rules/test_rules.py runs it against ViSN's rules
// alone (the stand-in) and against ViSN's rules with our block merged in, and compares.
//
// Needs FIRESTORE_EMULATOR_HOST, with the emulator started with --rules (the Google Cloud
// CLI's emulator does not take rules over its API).

import assert from 'node:assert/strict';

import { initializeTestEnvironment } from '@firebase/rules-unit-testing';
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

const PROJECT = process.env.GCLOUD_PROJECT;
const probes = JSON.parse(process.argv[2]);

const [host, port] = process.env.FIRESTORE_EMULATOR_HOST.split(':');
setLogLevel('silent');
const testEnv = await initializeTestEnvironment({
  projectId: PROJECT,
  firestore: { host, port: Number(port) },
});

const users = {
  alice: () => testEnv.authenticatedContext('alice', { customerId: 'cust-a' }).firestore(),
  bob: () => testEnv.authenticatedContext('bob', { customerId: 'cust-b' }).firestore(),
  nemo: () => testEnv.authenticatedContext('nemo').firestore(),
  anon: () => testEnv.unauthenticatedContext().firestore(),
};

async function ask(probe) {
  const db = users[probe.who]();
  switch (probe.op) {
    case 'get':
      return getDoc(doc(db, probe.path));
    case 'list':
      return getDocs(collection(db, probe.path));
    case 'query':
      return getDocs(query(collection(db, probe.path), where(...probe.where)));
    case 'set':
      return setDoc(doc(db, probe.path), probe.data);
    case 'update':
      return updateDoc(doc(db, probe.path), probe.data);
    case 'delete':
      return deleteDoc(doc(db, probe.path));
    default:
      throw new Error(`unknown op ${probe.op}`);
  }
}

const results = {};
try {
  await testEnv.clearFirestore();
  for (const probe of probes) {
    // Each probe on the same seeded data: a write allowed by one probe does not change the next.
    await testEnv.withSecurityRulesDisabled(async (context) => {
      for (const [path, data] of Object.entries(probe.seed ?? {})) {
        await setDoc(doc(context.firestore(), path), data);
      }
    });
    try {
      await ask(probe);
      results[probe.id] = 'allow';
    } catch (error) {
      assert.equal(error.code, 'permission-denied', `${probe.id}: ${error.message}`);
      results[probe.id] = 'deny';
    }
    await testEnv.clearFirestore();
  }
} finally {
  await testEnv.cleanup();
}
console.log(JSON.stringify(results));
