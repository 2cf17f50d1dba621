#!/usr/bin/env bash
# Reproduce the fits discussed in README.md (from the project root, with vrest installed).
set -euo pipefail
vrest fit --study data/studies/gelband1972_atrium.toml --model all --out fits/gelband1972_all --force
vrest fit --study data/studies/crayfish_ernstrom2019.toml --out fits/crayfish_ghk --force
