"""`make deploy`: the pre-flight checks of docs/deploy.md, run by the machine, then
`firebase deploy` of our codebase alone (`python -m ops.deploy --help`)."""
