// What `firebase deploy --only functions` does before it uploads anything, run offline with
// the pinned firebase-tools: pick the runtime from the committed firebase.json's functions
// source, validate it, and discover the functions from main.py; then what each function will
// run with: cpu and concurrency after firebase-tools' own defaults, and the environment the
// deploy carries from the source's .env files (for each project a committed .env.<projectId>
// names, and for none). Prints one JSON line.
const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "..", "..");
const lib = path.join(root, "node_modules/firebase-tools/lib");
const runtimes = require(path.join(lib, "deploy/functions/runtimes/index.js"));
const prepare = require(path.join(lib, "deploy/functions/prepare.js"));
const functionsEnv = require(path.join(lib, "functions/env.js"));

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
  // The deploy's own defaulting (prepare.resolveCpuAndConcurrency) over what was declared.
  const want = { endpoints: { region: {} } };
  for (const [id, ep] of Object.entries(build.endpoints)) {
    want.endpoints.region[id] = {
      platform: ep.platform,
      cpu: ep.cpu ?? null,
      concurrency: ep.concurrency ?? null,
      availableMemoryMb: ep.availableMemoryMb ?? null,
    };
  }
  prepare.resolveCpuAndConcurrency(want);
  // The environment each deploy carries, read as prepare.js reads it (functions/env.js).
  const sourceDir = path.resolve(root, config.source);
  const projects = ["demo-visn"].concat(
    fs.readdirSync(sourceDir)
      .filter((f) => /^\.env\.[a-z][a-z0-9-]*$/.test(f) && f !== ".env.local")
      .map((f) => f.slice(".env.".length)),
  );
  const environments = Object.fromEntries(
    projects.map((projectId) => [
      projectId,
      functionsEnv.loadUserEnvs({ functionsSource: sourceDir, projectId, projectDir: root }),
    ]),
  );
  const endpoints = Object.fromEntries(
    Object.entries(build.endpoints).map(([id, ep]) => [
      id,
      {
        region: ep.region,
        trigger: Object.keys(ep).find((k) => k.endsWith("Trigger")),
        concurrency: ep.concurrency ?? null,
        effectiveConcurrency: want.endpoints.region[id].concurrency,
        effectiveCpu: want.endpoints.region[id].cpu,
        maxInstances: ep.maxInstances ?? null,
        secrets: (ep.secretEnvironmentVariables || []).map((s) => s.key).sort(),
      },
    ]),
  );
  console.log(
    JSON.stringify({ language: delegate.language, runtime: delegate.runtime, endpoints, environments }),
  );
  process.exit(0);
})().catch((error) => {
  console.error(`deploy discovery failed: ${error.message}`);
  process.exit(1);
});
