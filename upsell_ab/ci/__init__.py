"""The GitHub Action's logic (``action.yml`` at the repository root runs
``python -m upsell_ab.ci.action``): validate, report, job summary, outputs,
sticky pull-request comment, exit code. Kept in the package, not in YAML, so
a test runs exactly these steps on any machine with a fake ``GITHUB_*``
environment. Sits above ``cli``; nothing imports it."""
