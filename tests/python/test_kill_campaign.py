"""The short kill campaign of the suite (scripts/kill_campaign.sh runs the long one): an SR and a GAN
run are each SIGKILLed 3 times at random moments and resumed with --resume auto; every checkpoint
left behind is whole, and the final weights and metrics equal an uninterrupted run's bit for bit."""
import os
import subprocess
import sys

from common import parse_args

a = parse_args()
here = os.path.dirname(os.path.abspath(__file__))
for family, seed, steps in [("sr", 1, 30), ("gan", 2, 150)]:
    r = subprocess.run([sys.executable, os.path.join(here, "kill_campaign.py"), "--tessera", a.tessera, "--source", a.source,
                        "--work", os.path.join(a.work, family), "--family", family, "--kills", "3", "--steps", str(steps),
                        "--seed", str(seed)], capture_output=True, text=True)
    sys.stdout.write(r.stdout)
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        raise SystemExit(1)
