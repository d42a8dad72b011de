// What `firebase deploy --only functions:<our codebase>` would do to a ViSN project that
// already runs functions of its own, planned offline with the pinned firebase-tools' own code:
// discovery of our functions from main.py (as deploy_discovery.cjs), the selector parsing
// and codebase choice of `--only`, the grouping of the project's existing functions by
// codebase, and the planner that decides what to create, update and delete.
//
// Simulated (it needs Google's APIs): the list of functions the project already runs, given
// as GCF v2 API objects and read with firebase-tools' own `endpointFromFunction`, and the
// default service account's email (a lookup the secrets step makes). Not covered: the upload
// itself and what Google's APIs then do with the plan.
//
// argv[2]: JSON {scenarioName: {only: "<--only value>", codebase?: "<instead of
// firebase.json's>", alreadyDeployed?: bool (our functions are there from an earlier deploy),
// clash?: "<a function name ViSN also uses, in its default codebase>"}}.
// Prints one JSON line: {scenarioName: {targeted, existing, plans: {codebase: {create,
// update, delete, skip}}}}, each a sorted list of "region/id".
const path = require("path");

const root = path.resolve(__dirname, "..", "..");
const lib = (p) => require(path.join(root, "node_modules/firebase-tools/lib", p));
const runtimes = lib("deploy/functions/runtimes/index.js");
const build = lib("deploy/functions/build.js");
const backend = lib("deploy/functions/backend.js");
const helper = lib("deploy/functions/functionsDeployHelper.js");
const planner = lib("deploy/functions/release/planner.js");
const ensure = lib("deploy/functions/ensure.js");
const gcfV2 = lib("gcp/cloudfunctionsv2.js");
const gcfV1 = lib("gcp/cloudfunctions.js");

const PROJECT = "visn-prod";
const scenarios = JSON.parse(process.argv[2]);

// Two look-ups at Google, answered offline: the secrets exist (docs/deploy.md step 2), and
// the default compute service account's email.
const secretManager = lib("gcp/secretManager.js");
secretManager.getSecretMetadata = async (projectId, name, version) => ({
  secret: { projectId, name },
  secretVersion: { secret: { projectId, name }, versionId: version === "latest" ? "1" : version, state: "ENABLED" },
});
ensure.defaultServiceAccount = async () => `123456789-compute@developer.gserviceaccount.com`;

// ViSN's project as `firebase deploy` would list it: its own functions in the `default`
// codebase (no codebase label) and in another codebase, one of them v1, in our region and
// another; plus, when asked, our own functions from an earlier deploy.
function gcf2(id, region, labels, trigger = "callable") {
  return {
    name: `projects/${PROJECT}/locations/${region}/functions/${id}`,
    state: "ACTIVE",
    environment: "GEN_2",
    labels: { "deployment-tool": "cli-firebase", [`deployment-${trigger}`]: "true", ...labels },
    buildConfig: { runtime: "nodejs20", entryPoint: id, source: {} },
    serviceConfig: { service: `projects/${PROJECT}/locations/${region}/services/${id.toLowerCase()}`, availableMemory: "256Mi" },
  };
}
function gcf1(id, region, labels) {
  return {
    name: `projects/${PROJECT}/locations/${region}/functions/${id}`,
    status: "ACTIVE",
    runtime: "nodejs18",
    entryPoint: id,
    httpsTrigger: {},
    labels: { "deployment-tool": "cli-firebase", ...labels },
  };
}
const VISN = [
  gcfV2.endpointFromFunction(gcf2("createEnquiry", "europe-west2", {})),
  gcfV2.endpointFromFunction(gcf2("sendEnquiryEmail", "europe-west2", {})),
  gcfV2.endpointFromFunction(gcf2("nightlyReport", "us-central1", {})),
  gcfV1.endpointFromFunction(gcf1("legacyWebhook", "europe-west1", {})),
  gcfV2.endpointFromFunction(
    gcf2("adminImport", "europe-west2", { "firebase-functions-codebase": "visn-admin" }),
  ),
];

(async () => {
  const committed = require(path.join(root, "firebase.json")).functions;
  const delegate = await runtimes.getRuntimeDelegate({
    projectId: PROJECT,
    projectDir: root,
    sourceDir: path.resolve(root, committed[0].source),
    runtime: committed[0].runtime,
  });
  await delegate.validate();
  await delegate.build();
  const wantBuild = await delegate.discoverBuild({}, { GCLOUD_PROJECT: PROJECT });
  const out = {};
  for (const [name, args] of Object.entries(scenarios)) {
    out[name] = await plan(committed, wantBuild, args);
  }
  console.log(JSON.stringify(out));
  process.exit(0);
})().catch((error) => {
  console.error(`deploy plan failed: ${error.stack || error.message}`);
  process.exit(1);
});

async function plan(committed, wantBuild, args) {
  const config = committed.map((c) => ({ ...c, codebase: args.codebase || c.codebase }));
  const ours = config[0];
  // `firebase deploy --only <args.only>`: its selectors, and the codebases they pick.
  const filters = helper.getEndpointFilters({ only: args.only }, config);
  const targeted = helper.targetCodebases(config, filters);

  const existing = [...VISN];
  if (args.clash) {
    existing.push(gcfV2.endpointFromFunction(gcf2(args.clash, "europe-west2", {})));
  }
  if (args.alreadyDeployed) {
    // Our functions from an earlier deploy, labelled with our codebase as firebase-tools does.
    for (const [id, ep] of Object.entries(wantBuild.endpoints)) {
      const labels = ours.codebase === "default" ? {} : { "firebase-functions-codebase": ours.codebase };
      const trigger = ep.scheduleTrigger ? "scheduled" : ep.httpsTrigger ? "https" : "callable";
      existing.push(gcfV2.endpointFromFunction(gcf2(id, "europe-west2", labels, trigger)));
    }
  }

  const wantBackends = {};
  for (const codebase of targeted) {
    const { backend: want } = await build.resolveBackend({
      build: wantBuild,
      firebaseConfig: { projectId: PROJECT },
      // A .env.<project> that names every parameter (docs/deploy.md step 3).
      userEnvs: {
        ...Object.fromEntries(
          wantBuild.params.filter((p) => p.default !== undefined).map((p) => [p.name, String(p.default)]),
        ),
        KEYLOOP_BASE_URL: "https://api.eu.keyloop.io",
      },
      codebase,
      nonInteractive: true,
      isEmulator: false,
    });
    for (const endpoint of backend.allEndpoints(want)) {
      endpoint.codebase = codebase;
    }
    wantBackends[codebase] = want;
  }
  // As prepare.js: the project's functions, each given to the codebase that owns it.
  const haveBackends = helper.groupEndpointsByCodebase(wantBackends, existing);
  const plans = {};
  for (const codebase of targeted) {
    const planned = await planner.createDeploymentPlan({
      codebase,
      wantBackend: wantBackends[codebase],
      haveBackend: haveBackends[codebase] || backend.empty(),
      projectId: PROJECT,
      filters,
    });
    const changes = Object.values(planned.regionalChangesets);
    const ids = (endpoints) => endpoints.map((e) => `${e.region}/${e.id}`).sort();
    plans[codebase] = {
      create: ids(changes.flatMap((c) => c.endpointsToCreate)),
      update: ids(changes.flatMap((c) => c.endpointsToUpdate).map((u) => u.endpoint)),
      delete: ids(changes.flatMap((c) => c.endpointsToDelete)),
      skip: ids(changes.flatMap((c) => c.endpointsToSkip)),
    };
  }
  const listed = existing.map((e) => `${e.region}/${e.id}@${e.codebase}`).sort();
  return { targeted, existing: listed, plans };
}
