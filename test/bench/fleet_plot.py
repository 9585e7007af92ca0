#!/usr/bin/python3
"""Pictures of the fleet simulator (issue 11): requests per second at
each registrar over time, serreg beside upstream's policy, one PNG per
scenario, in docs/img/ (matplotlib, Agg backend).

    /usr/bin/python3 test/bench/fleet_plot.py [-n 10000] [--out docs/img]
    make bench-fleet-plot
"""

import argparse
import csv
import os
import subprocess
import sys
import tempfile

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SIM = os.path.join(ROOT, 'build', 'bench-fleet')

SCENARIOS = (
    ('silent', 'primary dies silently'),
    ('reset', 'primary dies with TCP resets'),
    ('503', 'primary answers 503 + Retry-After'),
    ('return', 'primary returns (empty table), fleet on backup'),
    ('alldown', 'all registrars down, then the backup returns'),
)
MODELS = (('serreg', '-'), ('upstream', '--'))
REGS = (('P', 'primary P'), ('B', 'backup B'))


def load(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def plot(n, scenario, title, tmp, out):
    fig, axes = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for model, style in MODELS:
        rows = load(os.path.join(tmp, 'fleet-%s-%s-%d.csv'
                                 % (scenario, model, n)))
        t = [int(r['t']) for r in rows]
        for ax, (key, name) in zip(axes, REGS):
            ax.plot(t, [int(r[key]) for r in rows], style, linewidth=0.8,
                    label='%s' % model)
            ax.set_ylabel('requests/s at %s' % name)
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.legend(loc='upper right')
        ax.axvline(0, color='grey', linewidth=0.5)
    axes[-1].set_xlabel('s after the fault')
    fig.suptitle('%s: N = %d phones (fleet simulator)' % (title, n))
    fig.tight_layout()
    path = os.path.join(out, 'fleet-%s.png' % scenario)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('-n', type=int, default=10000)
    ap.add_argument('--out', default=os.path.join(ROOT, 'docs', 'img'))
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix='serreg-plot-') as tmp:
        subprocess.run([SIM, '-n', str(args.n), '-o', tmp], check=True,
                       stdout=subprocess.DEVNULL)
        for scenario, title in SCENARIOS:
            print(plot(args.n, scenario, title, tmp, args.out))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
