"""The trusting-side CLI, one module per command group: `commands/<group>.py` holds the click commands of
`webhook <group>` and nothing else; the generators they drive live in `webhook/federation/<topic>.py`.

Each command prints ready-to-apply YAML/JSON to stdout (or --out); notes go to stderr; bad input is one line
on stderr and a non-zero exit (webhook/cli.py reports every UserError).
"""
