"""WGAN-GP on 8 Gaussians on a ring (configs/gan/wgan_gp_ring8.yaml, 10k critic steps) covers at
least 7 of the 8 modes with at least 70% of samples within 3 std of a mode. The standard GAN with
the same networks and optimizer (configs/gan/gan_ring8.yaml, 2000 of its steps) is run too: how many modes it covers
varies with the seed and is printed (documented in docs/generative.md); asserted are only what any
working GAN does: it trains every step and its samples land on the data (most within 3 std of a
mode), which a wrong loss sign or a broken generator step would not."""
import json
import os

from common import check, parse_args, run

a = parse_args()


def train(config, run_dir, *extra):
    run([a.tessera, "train", os.path.join(a.source, config), "--run-dir", run_dir, *extra])
    rows = [json.loads(l) for l in open(os.path.join(run_dir, "metrics.jsonl")) if "val/modes_covered" in l]
    return rows


wgan = train("configs/gan/wgan_gp_ring8.yaml", os.path.join(a.work, "wgan_gp"))
last = wgan[-1]
print("WGAN-GP ring8:", [(r["step"], r["val/modes_covered"], round(r["val/high_quality"], 3)) for r in wgan])
check(last["step"] == 10000, "trained 10000 critic steps")
check(last["val/modes_covered"] >= 7, f"WGAN-GP covers {last['val/modes_covered']:.0f}/8 modes (>= 7)")
check(last["val/high_quality"] >= 0.70, f"WGAN-GP high-quality samples {last['val/high_quality']:.3f} (>= 0.70)")

# 2000 of the config's steps (its cosine schedule over those): enough for what is asserted.
gan = train("configs/gan/gan_ring8.yaml", os.path.join(a.work, "gan"), "trainer.total_steps=2000")
print("standard GAN ring8 (mode count documented, not asserted):",
      [(r["step"], r["val/modes_covered"], round(r["val/high_quality"], 3)) for r in gan])
gan_steps = 2000
check(gan[-1]["step"] == gan_steps, f"standard GAN trained its {gan_steps} steps")
check(gan[-1]["val/modes_covered"] >= 1, f"standard GAN covers {gan[-1]['val/modes_covered']:.0f}/8 modes (>= 1)")
check(gan[-1]["val/high_quality"] >= 0.5, f"standard GAN high-quality samples {gan[-1]['val/high_quality']:.3f} (>= 0.5)")
