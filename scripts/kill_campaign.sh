#!/usr/bin/env bash
# The long kill campaign: SIGKILLs a training run at random moments (default 20 times) and resumes it
# each time; every checkpoint must stay whole and the final weights must equal an uninterrupted
# run's bit for bit (tests/python/kill_campaign.py; the suite runs 3 kills per family).
#   scripts/kill_campaign.sh [--family sr|gan] [--kills N] [--steps S] [--seed K]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ -x "$TESSERA_BUILD/tessera" ] || die "no $TESSERA_BUILD/tessera: run scripts/build.sh first"
exec "$TESSERA_PYTHON" "$TESSERA_ROOT/tests/python/kill_campaign.py" --tessera "$TESSERA_BUILD/tessera" --source "$TESSERA_ROOT" \
  --work "$TESSERA_BUILD/kill_campaign" "$@"
