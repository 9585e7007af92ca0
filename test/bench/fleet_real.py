#!/usr/bin/python3
"""A real small fleet against real registrars (issue 11), beside the
fleet simulator.

N real /usr/bin/baresip processes with the built serreg.so, each with
two accounts in Cisco mode (prio 0 on registrar P, prio 1 on registrar
B, fbregint), against two real kamailio registrars on 127.0.0.1, driven
by test/integration/rig.py.  Two phases:

  silent  P is frozen (SIGSTOP): the fleet's checks find it, every phone
          registers at B
  return  P is killed and started again (an empty location table): the
          fleet's probes find it, every phone moves back

Measured at the registrars (their request logs): requests arriving per
second (first sends only: digest resends and retransmissions left out,
as the simulator does not model them; a request whose first copy went
to the frozen registrar is counted at its first logged copy) and, per
phone, its first
REGISTER answered 200 after the event: the share of the fleet
registered again (silent: at B; return: at P) second by second.  Then
build/bench-fleet runs the same N and settings, and the two are printed
side by side.  Time is bounded (about 3 minutes); only the processes
this script started are stopped.

--concurrent: every phone with serreg_concurrent 1 (issue 19: the
tier below the one in use registered too, the hot standby), the
simulator with --concurrent.  The fleet is then bound at P and B before
the freeze.  In both modes a phone has moved when its tier in use is
the new one (serreg's move event) and it is bound there (its first
REGISTER answered 200 after the event, or, at B in concurrent mode, a
binding it held already); it is unreachable from the freeze until it is
bound at B.  Before the freeze the steady load is counted for STEADY
seconds at P and B (first sends, per minute: REGISTERs that bind,
REGISTER expires=0, OPTIONS), beside the simulator's minute before its
fault.

--burst: the return burst of issue 20 at the issue's settings (check
30 s, probe timeout 5 s, hold 2, spread 60 s, regint 120 s, fbregint
30 s): P is frozen, killed and started afresh 36 s after the freeze;
P's arrivals per second in its first 10 s (REGISTER expires=0,
REGISTER expires>0, OPTIONS; every copy, the first copy of each
transaction, the digest resends after P's 401) beside the simulator's
at the same settings (-R 36, 10 seeds, median and max) for -x none,
libre and own.  About 2 minutes.

    /usr/bin/python3 test/bench/fleet_real.py [-n 40] [--out FILE]
    /usr/bin/python3 test/bench/fleet_real.py -n 30 --concurrent
    /usr/bin/python3 test/bench/fleet_real.py --burst -n 30 [--save J]
    make bench-fleet-real [FLEET_REAL_ARGS='-n 30']
"""

import argparse
import contextlib
import csv
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'integration'))

import rig  # noqa: E402

SIM = os.path.join(ROOT, 'build', 'bench-fleet')

# The settings of both the real fleet and the simulator (scaled down
# from the simulator's defaults so that a run takes minutes)
N_DEFAULT = 40
CHECK = 10          # serreg_check_interval [s]
TIMEOUT = 2         # serreg_probe_timeout [s]
HOLD = 2            # serreg_failback_hold
SPREAD = 10         # serreg_failback_spread [s]
BACKOFF_MAX = 300   # serreg_backoff_max [s]
FBREGINT = 10       # ;fbregint= [s]
REGINT = 60         # ;regint= [s]

SETTLE = CHECK + 2                       # [s] after the fleet is up
SILENT_WAIT = CHECK + TIMEOUT + 30       # [s] bound of phase 1
RETURN_WAIT = 3 * FBREGINT + SPREAD + 30  # [s] bound of phase 2
UP_WAIT = 60                             # [s] bound of the start
BETWEEN = 5                              # [s] between the phases
SHOW = 40                                # [s] rows of the curves
STEADY = 60                              # [s] steady load counted
POLL = 0.5                               # [s]


def user(i):
    return 'fleet%03d' % i


def bound_at(reg, users, t):
    """Users holding a binding at reg at time t, from its request log:
    the last REGISTER answered 200 before t asked for a binding (a 200
    to an expires=0, a probe or an un-REGISTER, removes it)."""
    last = {}
    for r in reg.requests(method='REGISTER'):
        if r.user in users and r.answer == 200 and r.time < t:
            last[r.user] = r.is_registration
    return {u for u, b in last.items() if b}


def moves_to(phones, to, since):
    """{user: time of its first move event to tier `to` since}."""
    out = {}
    for i, bs in enumerate(phones):
        mv = [m for m in bs.moves(since) if m['to'] == str(to)]
        if mv:
            out[user(i)] = mv[0]['_time']
    return out


def kind_counts(reg, t0, t1):
    """Arrivals at reg in [t0, t1), first sends (no digest resend, no
    retransmission), per minute: {'bind': REGISTER asking for a
    binding, 'exp0': REGISTER expires=0 (probe, un-REGISTER),
    'options': OPTIONS, 'all'}."""
    out = {'bind': 0, 'exp0': 0, 'options': 0, 'all': 0}
    for r in reg.requests(since=t0):
        if r.retry or r.retrans or r.time >= t1:
            continue
        out['all'] += 1
        if r.method == 'OPTIONS':
            out['options'] += 1
        elif r.is_registration:
            out['bind'] += 1
        elif r.is_probe:
            out['exp0'] += 1
    return {k: v * 60.0 / (t1 - t0) for k, v in out.items()}


def first_ok(reg, users, since):
    """{user: time of its first REGISTER (expires>0) answered 200 at
    reg since `since`}."""
    out = {}
    for r in reg.requests(method='REGISTER', since=since):
        if (r.user in users and r.user not in out and r.is_registration
                and r.answer == 200):
            out[r.user] = r.time
    return out


def arrivals(reg, t0, t1, method=None):
    """Requests (of a method) arriving per second in [t0, t1): first
    sends only."""
    n = int(math.ceil(t1 - t0))
    bins = [0] * max(n, 1)
    for r in reg.requests(method=method, since=t0):
        if r.retry or r.retrans or r.time >= t1:
            continue
        bins[int(r.time - t0)] += 1
    return bins


def curve(times, t0, n, nsec):
    """Share (%) of n phones registered, by whole second after t0."""
    out = []
    for s in range(nsec):
        out.append(100.0 * sum(1 for t in times if t - t0 <= s + 1) / n)
    return out


def t_share(times, t0, n, share):
    """[s] until share of n phones are registered, None if never."""
    need = int(math.ceil(n * share))
    d = sorted(t - t0 for t in times)
    return d[need - 1] if need and len(d) >= need else None


def wait_all(reg, users, since, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if len(first_ok(reg, users, since)) == len(users):
            return True
        time.sleep(POLL)
    return False


def moved(reg, phones, users, tier, t0, held):
    """{user: when it moved}: its move event to `tier` since t0 and a
    binding at reg (held: the users bound there at t0, else its first
    REGISTER answered 200 since t0), whichever is later; and {user:
    when it was bound at reg} (t0 for the held ones)."""
    bound = first_ok(reg, users, t0)
    bound.update({u: t0 for u in held})
    mv = moves_to(phones, tier, t0)
    return ({u: max(mv[u], bound[u]) for u in mv if u in bound}, bound)


def phase(reg, key, phones, users, tier, t0, timeout, held=()):
    """Wait (bounded) until every phone moved to `tier` at reg after
    t0, and for the window shown; what reg saw."""
    end = time.time() + timeout
    while (time.time() < end and
           len(moved(reg, phones, users, tier, t0, held)[0]) < len(users)):
        time.sleep(POLL)
    time.sleep(max(0.0, t0 + SHOW + 1 - time.time()))
    mv, bound = moved(reg, phones, users, tier, t0, held)
    return {'t0': t0, 'ok': len(mv) == len(users),
            'times': list(mv.values()),
            'unreach': [bound[u] - t0 if u in bound else None
                        for u in sorted(users)],
            'held': len(held),
            key: arrivals(reg, t0, time.time()),
            key + 'reg': arrivals(reg, t0, time.time(), 'REGISTER')}


FLEET = {'check': CHECK, 'timeout': TIMEOUT, 'hold': HOLD,
         'spread': SPREAD, 'fbregint': FBREGINT, 'regint': REGINT}


@contextlib.contextmanager
def fleet(n, base, st, concurrent=False, stagger=0.0):
    """Registrars P and B and n real baresip, each with an account on P
    (prio 0) and on B (prio 1), at the settings st; yields (P, B,
    phones, users) once every phone is bound at P; stops them all."""
    P = rig.Kamailio(base, name='P')
    B = rig.Kamailio(base, name='B')
    phones = []
    users = {user(i) for i in range(n)}
    try:
        P.start()
        B.start()
        config = ['serreg_check_interval %d' % st['check'],
                  'serreg_probe_timeout %d' % st['timeout'],
                  'serreg_failback_hold %d' % st['hold'],
                  'serreg_failback_spread %d' % st['spread'],
                  'serreg_backoff_max %d' % BACKOFF_MAX]
        if concurrent:
            config.append('serreg_concurrent 1')
        t_boot = time.time()
        for i in range(n):
            acc = [rig.account_line(user(i), reg, prio=prio,
                                    fbregint=st['fbregint'],
                                    regint=st['regint'])
                   for prio, reg in enumerate((P, B))]
            bs = rig.Baresip(os.path.join(base, user(i)), acc, config)
            phones.append(bs)
            bs.start()
            # the phones' phases (checks, refreshes) spread over the
            # boot, as the simulator's boot over 60 s
            time.sleep(max(0.0, t_boot + stagger * (i + 1) / n -
                           time.time()))
        if not wait_all(P, users, t_boot, UP_WAIT + stagger):
            raise RuntimeError('the fleet did not register at P in %d s'
                               % UP_WAIT)
        if concurrent and not wait_all(B, users, t_boot,
                                       UP_WAIT + stagger):
            raise RuntimeError('the fleet did not register at B (hot '
                               'standby) in %d s' % UP_WAIT)
        yield P, B, phones, users
    finally:
        for bs in phones:
            bs.close()
        P.close()
        B.close()


def run_real(n, base, concurrent=False, stagger=0.0):
    res = {}
    with fleet(n, base, FLEET, concurrent, stagger) as (P, B, phones,
                                                        users):
        time.sleep(SETTLE)

        # the steady load
        ts = time.time()
        time.sleep(STEADY)
        res['steady'] = {'P': kind_counts(P, ts, ts + STEADY),
                         'B': kind_counts(B, ts, ts + STEADY)}

        # phase 1: P freezes, the fleet goes to B
        t0 = time.time()
        P.freeze()
        res['silent'] = phase(B, 'B', phones, users, 1, t0, SILENT_WAIT,
                              bound_at(B, users, t0))
        time.sleep(BETWEEN)

        # phase 2: P comes back with an empty table
        P.stop()
        P.start()
        res['return'] = phase(P, 'P', phones, users, 0, time.time(),
                              RETURN_WAIT)
        res['crashed'] = sum(1 for bs in phones if bs.crashed)
    return res


def run_sim(n, scenario, outdir, concurrent=False):
    """The simulator at the same N and settings: (arrivals per second
    at the registrar the fleet moves to, % of the fleet moved there
    (in use and bound), REGISTERs per second there, the steady load
    per minute {P, B: {bind, exp0, options, all}}, unreachable time
    per phone, mean [s])."""
    cmd = [SIM, '-n', str(n), '-s', scenario, '-m', 'serreg',
           '-k', str(CHECK), '-t', str(TIMEOUT), '-f', str(FBREGINT),
           '-r', str(REGINT), '-S', str(SPREAD), '-H', str(HOLD),
           '-o', outdir] + (['--concurrent'] if concurrent else [])
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    path = os.path.join(outdir, 'fleet-%s-serreg%s-%d.csv'
                        % (scenario, '-c' if concurrent else '', n))
    with open(path) as f:
        rows = list(csv.DictReader(f))
    steady = {}
    for k in ('P', 'B'):
        win = [r for r in rows if -60 <= int(r['t']) < 0]
        steady[k] = {
            'bind': sum(int(r[k + 'bind']) for r in win),
            'exp0': sum(int(r[k + 'unreg']) + int(r[k + 'probe'])
                        for r in win),
            'options': sum(int(r[k]) - int(r[k + 'reg']) for r in win),
            'all': sum(int(r[k]) for r in win)}
    after = [r for r in rows if int(r['t']) >= 0]
    unreach = sum(n - int(r['reach']) for r in after) / float(n)
    if scenario == 'silent':
        rows = after
        key, tier = 'B', 'serve1'
    else:
        rows = [r for r in rows if int(r['t2']) >= 0]
        key, tier = 'P', 'serve0'
    return ([int(r[key]) for r in rows],
            [100.0 * int(r[tier]) / n for r in rows],
            [int(r[key + 'reg']) for r in rows], steady, unreach)


def sim_share(pcts, share):
    for s, p in enumerate(pcts):
        if s and p >= 100.0 * share - 1e-9:
            return float(s)
    return None


def fmt(t):
    return '-' if t is None else '%.0f' % t


def mean(v):
    return sum(v) / float(len(v)) if v else 0.0


def report(n, real, sims, concurrent=False):
    out = []
    out.append('settings: N=%d real baresip processes, 2 accounts each '
               '(prio 0 on P, prio 1 on B, Cisco mode), regint=%d s, '
               'fbregint=%d s, serreg_check_interval=%d s, '
               'serreg_probe_timeout=%d s, serreg_failback_hold=%d, '
               'serreg_failback_spread=%d s, serreg_backoff_max=%d s%s; '
               'simulator: the same N and settings'
               % (n, REGINT, FBREGINT, CHECK, TIMEOUT, HOLD, SPREAD,
                  BACKOFF_MAX, ', serreg_concurrent 1' if concurrent
                  else ''))
    out.append('')
    out.append('Steady load before the freeze, per minute (first sends): '
               'REGISTERs that bind / REGISTER expires=0 / OPTIONS / all '
               '(real: %d s counted; sim: the minute before its fault)'
               % STEADY)
    out.append('')
    out.append('| registrar | real | sim |')
    out.append('|-----------|-----:|----:|')
    for k in ('P', 'B'):
        rs, ss = real['steady'][k], sims['silent'][3][k]
        out.append('| %s | %s | %s |' % (k, ' / '.join(
            '%.0f' % rs[c] for c in ('bind', 'exp0', 'options', 'all')),
            ' / '.join('%.0f' % ss[c] for c in ('bind', 'exp0',
                                                'options', 'all'))))
    out.append('')
    out.append('| phase | moved to (in use, bound) | real 50/99/100 % [s] '
               '| sim 50/99/100 % [s] | real peak/s | sim peak/s '
               '| real REGISTER peak/s | sim REGISTER peak/s |')
    out.append('|-------|---------------------|--------------------:'
               '|-------------------:|------------:|-----------:'
               '|--:|--:|')
    for ph, reg, key in (('silent', 'B', 'B'), ('return', 'P', 'P')):
        r = real[ph]
        arr, pcts, regs = sims[ph][:3]
        w = len(r[key])
        rt = [t_share(r['times'], r['t0'], n, s) for s in (.5, .99, 1.)]
        st = [sim_share(pcts, s) for s in (.5, .99, 1.)]
        out.append('| %-6s | %-19s | %s | %s | %d | %d | %d | %d |' % (
            ph, reg, '/'.join(fmt(t) for t in rt),
            '/'.join(fmt(t) for t in st), max(r[key] or [0]),
            max(arr[:w] or [0]), max(r[key + 'reg'] or [0]),
            max(regs[:w] or [0])))
    r = real['silent']
    ur = [u for u in r['unreach'] if u is not None]
    out.append('')
    out.append('silent: phones bound at B at the freeze: real %d/%d; '
               'unreachable per phone (no binding at a live registrar), '
               'mean: real %.1f s (max %.1f s, %d never bound again), '
               'sim %.1f s'
               % (r['held'], n, mean(ur), max(ur or [0]),
                  len(r['unreach']) - len(ur), sims['silent'][4]))
    out.append('')
    for ph, key in (('silent', 'B'), ('return', 'P')):
        r = real[ph]
        arr, pcts = sims[ph][:2]
        rc = curve(r['times'], r['t0'], n, SHOW)
        out.append('%s: requests arriving at %s in second s..s+1 after '
                   'the event, and %% of the fleet moved at s+1 '
                   '(real, sim)' % (ph, key))
        out.append('| s | real %s/s | sim %s/s | real moved %% '
                   '| sim moved %% |' % (key, key))
        out.append('|--:|------:|------:|------:|------:|')
        for s in range(SHOW):
            ra = r[key][s] if s < len(r[key]) else 0
            sa = arr[s] if s < len(arr) else 0
            sp = pcts[s + 1] if s + 1 < len(pcts) else pcts[-1]
            out.append('| %d | %d | %d | %.0f | %.0f |'
                       % (s, ra, sa, rc[s], sp))
        out.append('')
    out.append('real fleet complete: silent %s, return %s; baresip '
               'crashes: %d' % (real['silent']['ok'], real['return']['ok'],
                                real['crashed']))
    return '\n'.join(out)


# The return burst of issue 20: the settings (serreg's defaults,
# regint 120, fbregint 30); P frozen, killed and started afresh BACK
# seconds after the freeze; its arrivals in its first OBSERVE seconds
BURST = {'check': 30, 'timeout': 5, 'hold': 2, 'spread': 60,
         'fbregint': 30, 'regint': 120}
BURST_BACK = 36          # [s] from the freeze to the fresh P
BURST_OBSERVE = 10       # [s] arrivals counted after the return
BURST_SEEDS = 10         # simulator runs per transaction model
BURST_MODELS = ('none', 'libre', 'own')
KINDS = ('probe', 'reg', 'options', 'all')


def kind_of(r):
    """'probe' (REGISTER expires=0: probe or un-REGISTER), 'reg'
    (REGISTER asking for a binding, or a query), 'options'."""
    if r.method == 'OPTIONS':
        return 'options'
    if r.method == 'REGISTER':
        return 'probe' if r.expires == 0 else 'reg'
    return None


def burst_bins(reg, t0, nsec):
    """Arrivals at reg per second after t0: every copy (retransmissions
    and digest resends included), the first copy of each transaction
    that is not a digest resend (what the simulator counts), and the
    digest resends (the answer to P's 401): {kind: [per second]}."""
    every = {k: [0] * nsec for k in KINDS}
    first = {k: [0] * nsec for k in KINDS}
    digest = {k: [0] * nsec for k in KINDS}
    for r in reg.requests(since=t0):
        s = int(r.time - t0)
        k = kind_of(r)
        if s >= nsec or k is None:
            continue
        ds = [every]
        if r.retry:
            ds.append(digest)
        elif not r.retrans:
            ds.append(first)
        for d in ds:
            d[k][s] += 1
            d['all'][s] += 1
    return every, first, digest


def run_burst_real(n, base):
    """The real fleet: boot at P, freeze P, BURST_BACK s later a fresh
    P; what P receives in its first BURST_OBSERVE s (bounded: about
    3 minutes)."""
    res = {}
    with fleet(n, base, BURST) as (P, B, phones, users):
        # run past the first checks (their phases spread over a round)
        time.sleep(BURST['check'] + 2)

        t_freeze = time.time()
        P.freeze()
        time.sleep(max(0.0, t_freeze + BURST_BACK - time.time()))
        res['on_b'] = len(first_ok(B, users, t_freeze))
        P.stop()
        P.start()
        t_ret = P.started_at
        res['start_s'] = P.start_seconds
        time.sleep(max(0.0, t_ret + BURST_OBSERVE + 1 - time.time()))
        res['every'], res['first'], res['digest'] = burst_bins(
            P, t_ret, BURST_OBSERVE)
        res['crashed'] = sum(1 for bs in phones if bs.crashed)
    return res


def run_burst_sim(n, xmodel, seed, outdir):
    """One simulator run at the burst's settings: {kind: [arrivals at P
    per second after the return]} ('probe' and 'reg' together as
    'register': the simulator's CSV counts REGISTERs of any expires)."""
    cmd = [SIM, '-n', str(n), '-s', 'return', '-m', 'serreg',
           '-k', str(BURST['check']), '-t', str(BURST['timeout']),
           '-f', str(BURST['fbregint']), '-r', str(BURST['regint']),
           '-S', str(BURST['spread']), '-H', str(BURST['hold']),
           '-R', str(BURST_BACK), '-x', xmodel, '--seed', str(seed),
           '-o', outdir]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    path = os.path.join(outdir, 'fleet-return-serreg-%d.csv' % n)
    with open(path) as f:
        rows = [r for r in csv.DictReader(f)
                if 0 <= int(r['t2']) < BURST_OBSERVE]
    reg = [int(r['Preg']) for r in rows]
    alls = [int(r['P']) for r in rows]
    return {'register': reg, 'options': [a - b for a, b in zip(alls, reg)],
            'all': alls}


def median(v):
    v = sorted(v)
    m = len(v) // 2
    return v[m] if len(v) % 2 else (v[m - 1] + v[m]) / 2.0


def burst_report(n, real, sims):
    """Markdown: P's arrivals per second after its return, real (every
    copy, and first copies) beside the simulator (median and max of the
    seeds) for each transaction model."""
    ev, fi = real['every'], real['first']
    dg = real.get('digest', {k: [0] * BURST_OBSERVE for k in KINDS})
    out = ['settings: N=%d real baresip processes, 2 accounts each (prio 0'
           ' on P, prio 1 on B, UDP), regint=%d s, fbregint=%d s, '
           'serreg_check_interval=%d s, serreg_probe_timeout=%d s, '
           'serreg_failback_hold=%d, serreg_failback_spread=%d s; P '
           'frozen, killed and started afresh %d s after the freeze; '
           'phones at B by then: %d/%d; baresip crashes: %d'
           % (n, BURST['regint'], BURST['fbregint'], BURST['check'],
              BURST['timeout'], BURST['hold'], BURST['spread'],
              BURST_BACK, real['on_b'], n, real['crashed']), '',
           'Real: arrivals at P in second s..s+1 after its start: every '
           'copy, (the first copy of each transaction), [of them digest '
           'resends after P\'s 401]', '',
           '| s | REGISTER exp=0 | REGISTER exp>0 | OPTIONS | all |',
           '|--:|--:|--:|--:|--:|']
    for s in range(BURST_OBSERVE):
        out.append('| %d | %s |' % (s, ' | '.join(
            '%d (%d) [%d]' % (ev[k][s], fi[k][s], dg[k][s])
            for k in KINDS)))
    out.append('')
    for name, d in (('every copy', ev), ('first copies, no digest '
                                          'resends', fi)):
        r4 = {k: sum(d[k][:4]) for k in KINDS}
        out.append('real, %s: first 4 s: %d REGISTER (%d exp=0), %d '
                   'OPTIONS; peak in %d s: %d REGISTER/s, %d requests/s'
                   % (name, r4['probe'] + r4['reg'], r4['probe'],
                      r4['options'], BURST_OBSERVE,
                      max(a + b for a, b in zip(d['probe'], d['reg'])),
                      max(d['all'])))
    out += ['',
            'Simulator (%d seeds; median / max over the seeds):' %
            BURST_SEEDS, '',
            '| model | REGISTER first 4 s | OPTIONS first 4 s | '
            'REGISTER/s peak | requests/s peak |',
            '|-------|--:|--:|--:|--:|']
    for xm in BURST_MODELS:
        runs = sims[xm]
        cols = [[sum(r['register'][:4]) for r in runs],
                [sum(r['options'][:4]) for r in runs],
                [max(r['register']) for r in runs],
                [max(r['all']) for r in runs]]
        out.append('| %s | %s |' % (xm, ' | '.join(
            '%g / %d' % (median(c), max(c)) for c in cols)))
    out += ['', 'Simulator, -x libre, seed 1, per second after the '
            'return (REGISTER, OPTIONS): ' + ', '.join(
                '%d+%d' % (a, b) for a, b in zip(
                    sims['libre'][0]['register'],
                    sims['libre'][0]['options']))]
    return '\n'.join(out)


def main_burst(args):
    base = tempfile.mkdtemp(prefix='serreg-burst-')
    try:
        if args.load:
            with open(args.load) as f:
                real = json.load(f)
            args.n = real['n']
        else:
            real = run_burst_real(args.n, base)
            real['n'] = args.n
            if args.save:
                with open(args.save, 'w') as f:
                    json.dump(real, f)
        sims = {xm: [run_burst_sim(args.n, xm, seed, base)
                     for seed in range(1, BURST_SEEDS + 1)]
                for xm in BURST_MODELS}
        text = burst_report(args.n, real, sims)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text + '\n')
    return 0


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('-n', type=int, default=N_DEFAULT,
                    help='phones (30..50; default %d)' % N_DEFAULT)
    ap.add_argument('--out', help='also write the report here')
    ap.add_argument('--keep', action='store_true',
                    help='keep the run directory')
    ap.add_argument('--burst', action='store_true',
                    help='the return burst of issue 20 (its settings; '
                    'P fresh %d s after the freeze)' % BURST_BACK)
    ap.add_argument('--save', metavar='JSON',
                    help='keep the real fleet\'s counts here')
    ap.add_argument('--concurrent', action='store_true',
                    help='serreg_concurrent 1 in every phone, the '
                    'simulator with --concurrent (issue 19)')
    ap.add_argument('--stagger', type=float, default=0.0, metavar='S',
                    help='start the phones one after the other over S '
                    'seconds (default 0: at once; the simulator boots '
                    'its fleet over 60 s)')
    ap.add_argument('--load', metavar='JSON',
                    help='the real counts of an earlier run (no real '
                    'fleet; the simulator only)')
    args = ap.parse_args(argv)
    if not os.path.exists(SIM):
        sys.exit('fleet_real: %s missing: make build/bench-fleet' % SIM)
    if args.burst:
        return main_burst(args)
    base = tempfile.mkdtemp(prefix='serreg-fleet-')
    try:
        if args.load:
            with open(args.load) as f:
                real = json.load(f)
        else:
            real = run_real(args.n, base, args.concurrent, args.stagger)
            if args.save:
                with open(args.save, 'w') as f:
                    json.dump(real, f)
        sims = {ph: run_sim(args.n, ph, base, args.concurrent)
                for ph in ('silent', 'return')}
        text = report(args.n, real, sims, args.concurrent)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text + '\n')
    return 0 if real['silent']['ok'] and real['return']['ok'] else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
