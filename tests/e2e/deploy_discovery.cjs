// What `firebase deploy --only functions` does before it uploads anything, run offline with
// the pinned firebase-tools: pick the runtime from the committed firebase.json's functions
// source, validate it, and discover the functions from main.py. Prints one JSON line.
const path = require("path");

const root = path.resolve(__dirname, "..", "..");
const runtimes = require(path.join(root, "node_modules/firebase-tools/lib/deploy/functions/runtimes/index.js"));

(async () => {
  const config = require(path.join(root, "firebase.json")).functions[0];
  const delegate = await runtimes.getRuntimeDelegate({
    projectId: "demo-visn",
    projectDir: root,
    sourceDir: path.resolve(root, config.source),
    runtime: config.runtime,
  });
  await delegate.validate();
  await delegate.build();
  const build = await delegate.discoverBuild({}, { GCLOUD_PROJECT: "demo-visn" });
  const endpoints = Object.fromEntries(
    Object.entries(build.endpoints).map(([id, ep]) => [
      id,
      {
        region: ep.region,
        trigger: Object.keys(ep).find((k) => k.endsWith("Trigger")),
        concurrency: ep.concurrency ?? null,
        maxInstances: ep.maxInstances ?? null,
        secrets: (ep.secretEnvironmentVariables || []).map((s) => s.key).sort(),
      },
    ]),
  );
  console.log(JSON.stringify({ language: delegate.language, runtime: delegate.runtime, endpoints }));
  process.exit(0);
})().catch((error) => {
  console.error(`deploy discovery failed: ${error.message}`);
  process.exit(1);
});
