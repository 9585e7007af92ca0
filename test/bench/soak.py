#!/usr/bin/python3
"""Soak: real baresip + serreg.so against three flapping registrars.

Three kamailio registrars (tiers 0, 1, 2; alice and bob on each, so
every tier has two accounts) go up and down at random for N minutes:
SIGKILL and restart, freeze (SIGSTOP) and thaw, 503 with or without
Retry-After, silence.  The random generator is seeded, so a run can be
replayed (timing on a shared machine aside).  Every ~10 s the script
samples baresip's RSS (/proc/PID/status VmRSS) and serreg's own
allocation figures ("mem" of `serreg json`: live objects, their bytes,
the process's malloc heap in use).

At the end every registrar is healed and the ladder must come back to
tier 0 (both accounts registered there, no binding elsewhere), baresip
must still run and quit cleanly, and RSS, heap and the module's live
objects must be flat: the last quarter of the samples is compared with
the first quarter (after a warm-up).  Exit status 0 only if all holds.

Usage: soak.py [--minutes N] [--seed S] [--interval S] [--out FILE]
"""

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, 'test', 'integration'))

import rig  # noqa: E402

USERS = ('alice', 'bob')
NREG = 3
FBREGINT = 3            # [s] probe interval of the standby accounts
CONFIG = ['serreg_probe_timeout 2', 'serreg_failback_hold 2',
          'serreg_backoff_max 8', 'serreg_check_interval 4']
FAULT_GAP = (2.0, 12.0)     # [s] between two fault decisions
FAULT_LEN = (3.0, 40.0)     # [s] how long a fault lasts at most
FAULTS = ('kill', 'freeze', '503', '503ra', 'silent', 'restart')
WARMUP = 60.0           # [s] samples before this are not compared
SETTLE = 60.0           # [s] for the ladder to come back at the end
RSS_SLACK = 1024        # [KiB] allowed growth of RSS, first -> last q.
HEAP_SLACK = 512 * 1024     # [B] allowed growth of the malloc heap


def vmrss_kib(pid):
    """VmRSS of a process in KiB, None if it is gone."""
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def slope_per_hour(xs, ys):
    """Least-squares slope of ys over xs [s], per hour; 0 if < 2."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if not sxx:
        return 0.0
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    return sxy / sxx * 3600.0


def median(v):
    s = sorted(v)
    n = len(s)
    if not n:
        return 0
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


class Flapper:
    """Injects and heals the faults of the registrars, seeded."""

    def __init__(self, regs, rng, log):
        self.regs = regs
        self.rng = rng
        self.log = log
        self.fault = [None] * len(regs)     # kind or None
        self.until = [0.0] * len(regs)      # monotonic heal time
        self.counts = {f: 0 for f in FAULTS}
        self.heals = 0

    def heal(self, i):
        """Registrar i healthy again (started, thawed, normal)."""
        k, kind = self.regs[i], self.fault[i]
        if kind == 'kill':
            k.start()
        elif kind == 'freeze':
            k.thaw()
        elif kind in ('503', '503ra', 'silent'):
            k.set_reply(None)
        self.fault[i] = None
        self.heals += 1
        self.log('heal %s (%s)' % (k.name, kind))

    def inject(self, i, now):
        """A random fault on healthy registrar i."""
        k = self.regs[i]
        kind = self.rng.choice(FAULTS)
        dur = self.rng.uniform(*FAULT_LEN)
        if kind == 'kill':
            k.stop()
        elif kind == 'freeze':
            k.freeze()
        elif kind == '503':
            k.set_reply(503)
        elif kind == '503ra':
            k.set_reply(503, retry_after=self.rng.randint(1, 10))
        elif kind == 'silent':
            k.set_silent()
        elif kind == 'restart':
            # killed and back at once: a transaction in flight is lost
            k.restart()
        self.counts[kind] += 1
        if kind != 'restart':
            self.fault[i] = kind
            self.until[i] = now + dur
        self.log('fault %s %s for %.0f s' % (k.name, kind,
                                             dur if kind != 'restart'
                                             else 0))

    def step(self, now):
        """Heal what is due; then one decision on a random registrar."""
        for i in range(len(self.regs)):
            if self.fault[i] and now >= self.until[i]:
                self.heal(i)
        i = self.rng.randrange(len(self.regs))
        if self.fault[i]:
            if self.rng.random() < 0.3:
                self.heal(i)
        else:
            self.inject(i, now)

    def heal_all(self):
        for i in range(len(self.regs)):
            if self.fault[i]:
                self.heal(i)

    @property
    def total(self):
        return sum(self.counts.values())


def sample(bs, t0):
    """One sample: time, RSS, serreg's mem object (or None)."""
    s = {'t': round(time.monotonic() - t0, 1),
         'rss_kib': vmrss_kib(bs.pid)}
    try:
        st = bs.status()
        s['mem'] = st.get('mem')
        s['state'] = st.get('state')
        s['current'] = st.get('current')
    except (rig.RigError, TimeoutError, ConnectionError, ValueError) as e:
        s['error'] = str(e)
    return s


def quarters(samples, key):
    """(first-quarter, last-quarter) values of key after the warm-up
    (a minute, a quarter of a shorter run)."""
    warmup = min(WARMUP, samples[-1]['t'] / 4) if samples else 0
    vals = [(s['t'], key(s)) for s in samples
            if s['t'] >= warmup and key(s) is not None]
    q = max(1, len(vals) // 4)
    return vals[:q], vals[-q:], vals


def summarize(samples, nacc):
    """Figures and the list of flatness failures."""
    res, bad = {}, []

    def mem(field):
        return lambda s: (s.get('mem') or {}).get(field)

    for name, key, slack in (('rss_kib', lambda s: s['rss_kib'],
                              RSS_SLACK),
                             ('heap', mem('heap'), HEAP_SLACK),
                             ('objects', mem('objects'), None),
                             ('bytes', mem('bytes'), None)):
        first, last, vals = quarters(samples, key)
        if not vals:
            bad.append('%s: no samples after the warm-up' % name)
            continue
        allv = [v for _, v in vals]
        f = median([v for _, v in first])
        la = median([v for _, v in last])
        r = {'start': allv[0], 'end': allv[-1], 'max': max(allv),
             'min': min(allv), 'first_q_median': f, 'last_q_median': la,
             'slope_per_hour': round(slope_per_hour(
                 [t for t, _ in vals], allv), 1)}
        res[name] = r
        if slack is not None and la > f + max(slack, 0.1 * f):
            bad.append('%s grew: first quarter median %s, last quarter '
                       'median %s' % (name, f, la))
        if slack is None:
            # live objects are bounded by the ladder: an account, a
            # probe or check and a queued action or two per account
            fmax = max(v for _, v in first)
            lmax = max(v for _, v in last)
            if name == 'objects' and lmax > max(fmax, 3 * nacc):
                bad.append('objects grew: max %s in the first quarter, '
                           '%s in the last' % (fmax, lmax))
    first, last, vals = quarters(samples, mem('allocs'))
    if vals:
        res['allocs'] = {'start': vals[0][1], 'end': vals[-1][1]}
    return res, bad


def end_state(bs, regs, log):
    """Problems with the final ladder (empty list: all right)."""
    probs = []

    def settled():
        try:
            st = bs.status()
        except (rig.RigError, TimeoutError, ConnectionError):
            return False
        regd = [a for a in st['accounts'] if a['tier'] == 0
                and a['state'] == 'registered']
        alive = [a for a in st['accounts'] if a['tier'] != 0
                 and a['state'] == 'alive']
        if (st['state'] != 'registered' or st['current'] != 0
                or len(regd) != len(USERS)
                or len(alive) != len(st['accounts']) - len(USERS)):
            return False
        bound = [[u for u in USERS if k.has_binding(u)] for k in regs]
        return bound == [list(USERS), [], []]

    if not rig.wait_until(settled, SETTLE, 0.5):
        st = bs.status()
        probs.append('ladder not back on tier 0 in %.0f s: %s'
                     % (SETTLE, json.dumps(st)))
        for k in regs:
            probs.append('%s bindings: %s' % (
                k.name, [u for u in USERS if k.has_binding(u)]))
    st = bs.status()
    log('end state: %s, current %s, accounts %s'
        % (st['state'], st['current'],
           [(a['tier'], a['state']) for a in st['accounts']]))
    return probs


def run(args):
    rng = random.Random(args.seed)
    t0 = time.monotonic()
    rundir = tempfile.mkdtemp(prefix='serreg-soak-')
    logf = open(os.path.join(rundir, 'soak.log'), 'w')

    def log(msg):
        line = '%8.1f %s' % (time.monotonic() - t0, msg)
        logf.write(line + '\n')
        logf.flush()
        if args.verbose:
            print(line, flush=True)

    # a copy: rebuilding serreg.so during a long run changes nothing
    module = os.path.join(rundir, 'serreg.so')
    shutil.copy(args.module, module)

    regs = [rig.Kamailio(rundir, 'reg%d' % i) for i in range(NREG)]
    for k in regs:
        k.start()
    accounts = [rig.account_line(u, k, prio=i, fbregint=FBREGINT)
                for i, k in enumerate(regs) for u in USERS]
    nacc = len(accounts)
    bs = rig.Baresip(os.path.join(rundir, 'bs'), accounts, CONFIG,
                     module=module)
    bs.start(hold=regs)
    print('soak: %d min, seed %d, baresip pid %d, run dir %s'
          % (args.minutes, args.seed, bs.pid, rundir), flush=True)

    fl = Flapper(regs, rng, log)
    samples = []
    problems = []
    end = t0 + args.minutes * 60.0
    next_fault = time.monotonic() + rng.uniform(*FAULT_GAP)
    next_sample = time.monotonic()
    max_iter = int(args.minutes * 60 / 0.5) + 1000

    for _ in range(max_iter):
        now = time.monotonic()
        if now >= end:
            break
        if not bs.running:
            problems.append('baresip exited with %s during the soak'
                            % bs.returncode)
            break
        if now >= next_sample:
            s = sample(bs, t0)
            samples.append(s)
            log('sample %s' % json.dumps(s))
            if args.verbose is False and len(samples) % 30 == 0:
                print('soak: %4.0f s rss %s KiB mem %s faults %d'
                      % (s['t'], s['rss_kib'], s.get('mem'), fl.total),
                      flush=True)
            next_sample += args.interval
        if now >= next_fault:
            try:
                fl.step(now)
            except rig.RigError as e:
                problems.append('fault injection: %s' % e)
                log('rig error: %s' % e)
            next_fault = time.monotonic() + rng.uniform(*FAULT_GAP)
        time.sleep(max(0.05, min(next_sample, next_fault, end)
                       - time.monotonic()))

    try:
        fl.heal_all()
    except rig.RigError as e:
        problems.append('healing the registrars: %s' % e)
    if bs.running:
        problems += end_state(bs, regs, log)
        samples.append(sample(bs, t0))
    moves = bs.moves()
    errors = [s for s in samples if 'error' in s]
    if len(errors) > max(2, len(samples) // 20):
        problems.append('%d of %d status samples failed, e.g. %s'
                        % (len(errors), len(samples), errors[0]['error']))
    figures, bad = summarize(samples, nacc)
    problems += bad

    alive = bs.running
    if not alive:
        problems.append('baresip is not running at the end (exit %s)'
                        % bs.returncode)
    quit_s = None
    try:
        quit_s = bs.quit(timeout=40.0)
        if bs.returncode != 0:
            problems.append('baresip exited with %s after quit'
                            % bs.returncode)
    except TimeoutError as e:
        problems.append(str(e))
    bs.close()
    for k in regs:
        k.close()

    result = {
        'minutes': args.minutes, 'seed': args.seed,
        'accounts': nacc, 'registrars': NREG,
        'samples': len(samples), 'status_errors': len(errors),
        'faults': fl.counts, 'faults_total': fl.total,
        'heals': fl.heals, 'moves': len(moves),
        'moves_by_reason': {},
        'baresip_alive_at_end': alive, 'quit_seconds': quit_s,
        'figures': figures, 'problems': problems, 'rundir': rundir,
    }
    for m in moves:
        r = m.get('reason', '?')
        result['moves_by_reason'][r] = \
            result['moves_by_reason'].get(r, 0) + 1
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)),
                    exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(dict(result, series=samples), f, indent=1)
    logf.close()
    return result


def report(r):
    f = r['figures']
    print('soak: %s min, seed %s, %d accounts on %d registrars'
          % (r['minutes'], r['seed'], r['accounts'], r['registrars']))
    print('  faults injected: %d %s, heals %d, moves %d %s'
          % (r['faults_total'], r['faults'], r['heals'], r['moves'],
             r['moves_by_reason']))
    print('  samples: %d (%d status errors)' % (r['samples'],
                                                 r['status_errors']))
    for name, unit in (('rss_kib', 'KiB'), ('heap', 'B'),
                       ('objects', ''), ('bytes', 'B')):
        if name in f:
            x = f[name]
            print('  %-8s start %s end %s max %s min %s; median first q. '
                  '%s last q. %s; slope %s%s/h'
                  % (name, x['start'], x['end'], x['max'], x['min'],
                     x['first_q_median'], x['last_q_median'],
                     x['slope_per_hour'], unit))
    if 'allocs' in f:
        print('  allocs   %s -> %s (module objects allocated since load)'
              % (f['allocs']['start'], f['allocs']['end']))
    print('  baresip alive at end: %s, quit in %s s'
          % (r['baresip_alive_at_end'],
             None if r['quit_seconds'] is None
             else round(r['quit_seconds'], 3)))
    for p in r['problems']:
        print('  PROBLEM: %s' % p)
    print('soak: %s (run dir %s)' % ('FAIL' if r['problems'] else 'ok',
                                     r['rundir']))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--minutes', type=float, default=30.0)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--interval', type=float, default=10.0,
                    help='seconds between samples')
    ap.add_argument('--module', default=rig.MODULE)
    ap.add_argument('--out', default=None, help='JSON with every sample')
    ap.add_argument('--verbose', action='store_true')
    args = ap.parse_args()
    if args.minutes <= 0 or args.interval <= 0:
        ap.error('--minutes and --interval must be > 0')
    r = run(args)
    report(r)
    if not r['problems']:
        shutil.rmtree(r['rundir'], ignore_errors=True)
    return 1 if r['problems'] else 0


if __name__ == '__main__':
    sys.exit(main())
