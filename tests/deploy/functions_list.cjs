// What `firebase functions:list --json` prints for a project, made by the pinned
// firebase-tools' own code: GCF API objects (as Google's API returns them) read with its
// parsers (endpointFromFunction), sorted as the command sorts them, wrapped as its --json
// output is. The stand-ins' recorded listings must have this shape (test_standin.py).
//
// argv[2]: JSON [{id, region, codebase?, gen?: 1|2, trigger?: "callable"|"https"|"scheduled",
// runtime?}]. Prints one JSON line.
const path = require("path");

const root = path.resolve(__dirname, "..", "..");
const lib = (p) => require(path.join(root, "node_modules/firebase-tools/lib", p));
const backend = lib("deploy/functions/backend.js");
const gcfV2 = lib("gcp/cloudfunctionsv2.js");
const gcfV1 = lib("gcp/cloudfunctions.js");

const PROJECT = "{project}";

function labels(f) {
  const out = { "deployment-tool": "cli-firebase" };
  if (f.codebase && f.codebase !== "default") out["firebase-functions-codebase"] = f.codebase;
  if ((f.gen || 2) === 2) out[`deployment-${f.trigger || "callable"}`] = "true";
  return out;
}

function endpoint(f) {
  const name = `projects/${PROJECT}/locations/${f.region}/functions/${f.id}`;
  if ((f.gen || 2) === 1) {
    return gcfV1.endpointFromFunction({
      name, status: "ACTIVE", runtime: "nodejs18", entryPoint: f.id, httpsTrigger: {},
      labels: labels(f), availableMemoryMb: 256,
    });
  }
  return gcfV2.endpointFromFunction({
    name,
    state: "ACTIVE",
    environment: "GEN_2",
    labels: labels(f),
    buildConfig: { runtime: f.runtime || "nodejs20", entryPoint: f.id, source: {} },
    serviceConfig: {
      service: `projects/${PROJECT}/locations/${f.region}/services/${f.id.toLowerCase()}`,
      availableMemory: "512Mi",
      uri: `https://${f.id.toLowerCase()}-abc123-nw.a.run.app`,
    },
  });
}

const endpoints = JSON.parse(process.argv[2]).map(endpoint).sort(backend.compareFunctions);
console.log(JSON.stringify({ status: "success", result: endpoints }));
