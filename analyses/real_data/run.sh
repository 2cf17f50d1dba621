#!/usr/bin/env bash
# Reproduce the runs discussed in README.md (from the project root, with vrest installed).
set -euo pipefail
vrest run data/studies/gelband1972_atrium.toml --out runs/gelband1972 --force
vrest run data/studies/crayfish_ernstrom2019.toml --out runs/crayfish --force
