"""The short soak of the suite (scripts/soak.sh runs 10,000 steps): resident memory of a training
run stays flat over its steps, validations and checkpoints."""
import os
import subprocess
import sys

from common import parse_args

a = parse_args()
r = subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "soak.py"), "--tessera", a.tessera,
                    "--source", a.source, "--work", os.path.join(a.work, "soak"), "--steps", "500", "--interval", "0.2"],
                   capture_output=True, text=True)
sys.stdout.write(r.stdout)
sys.stderr.write(r.stderr)
raise SystemExit(r.returncode)
