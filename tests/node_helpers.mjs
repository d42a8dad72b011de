// Helpers shared by the Node suites that run against the local stack (tests/e2e, tests/browser).
import assert from "node:assert/strict";

/** The k-th Monday-to-Friday date from three days ahead: open at both Keyloop stores. */
export function bookableDate(k) {
  const day = new Date();
  day.setUTCHours(12, 0, 0, 0);
  day.setUTCDate(day.getUTCDate() + 3);
  for (let n = 0; ; day.setUTCDate(day.getUTCDate() + 1)) {
    const weekday = day.getUTCDay();
    if (weekday >= 1 && weekday <= 5 && n++ === k) {
      return day.toISOString().slice(0, 10);
    }
  }
}

/** GET a JSON document; null for 404, anything else but 200 fails the test. */
export async function getJson(url, headers = {}) {
  const response = await fetch(url, { headers });
  if (response.status === 404) {
    return null;
  }
  assert.equal(response.status, 200, `GET ${url}`);
  return response.json();
}
