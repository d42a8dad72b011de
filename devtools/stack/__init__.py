"""The whole local stack: `make dev` runs it in the foreground, the end-to-end tests on free ports.

One module a job: `config` (project, ports, run directory, CALLABLES), `lifecycle` (the Stack:
processes in order, readiness, stop), `staging` (firebase-tools' run files), `readiness`,
`seeding` (demo data over REST), `console` (the dev console page), `banner`, and `__main__`
(`python -m devtools.stack`, the CLI `make dev` runs).

Started in this order, each in its own process group and stopped as a group in reverse order
(the emulators leave java and gunicorn children behind): our Keyloop sandbox, the Firestore
emulator, firebase-tools' functions and auth emulators; then demo data is seeded and the dev
console (devtools/console/, bundled with esbuild) is served on a port of its own, so the page
calls the functions from another origin, as the Web UI does. After a stop every port is
checked free.

Everything a run writes lives in its run directory (`dev/<project>/` for `make dev`, a temporary
directory for the tests), never in the project root:

- `functions/`: the functions source the emulator loads: symlinks to what a deploy uploads
  (the committed firebase.json's functions "ignore" list decides) plus `venv/`, with the
  emulator's `.env.local` (the sandbox's URL) and `.secret.local` (the sandbox's client
  credentials) written into it. Two stacks on different ports (a `make dev` and the
  end-to-end tests, say) therefore never share these files, and the project root gets none.
- `firebase.json`: the committed file's functions block, pointed at `functions/`, with this
  run's "emulators" ports (the committed "emulators" block holds the defaults).
- `console/`: the dev console as served: index.html, style.css, app.js bundled with the
  Firebase JS SDK, and `config.json` (where the emulators are, the demo logins and suppliers).
- `logs/`, and `stack.json`: the addresses and demo logins, for scripts and `node --test`.

Firestore: firebase-tools' own emulator needs Java 21 and downloads its jar. Where that can work
it runs it; otherwise the Google Cloud CLI's emulator runs and the functions reach it through
FIRESTORE_EMULATOR_HOST in firebase-tools' environment: each Python worker is started with
firebase-tools' environment plus the function's (functions/python.js `runWithVirtualEnv`), and
firebase-tools sets FIRESTORE_EMULATOR_HOST itself only for an emulator it runs.
"""
