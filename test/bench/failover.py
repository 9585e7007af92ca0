#!/usr/bin/python3
"""Failover benchmark of serreg against the real rig (issue 3, R51).

Real kamailio registrars and the real /usr/bin/baresip with the built
serreg.so, driven by test/integration/rig.py.  Each scenario runs
--runs times (default 5; --quick: 1):

  frozen-udp  the registrar in use is frozen (SIGSTOP), UDP
  killed-tcp  the registrar in use is killed (SIGKILL), TCP
  503-ra      the registrar in use answers everything with
              503 + Retry-After
  failback    Cisco mode: the primary is killed (UDP), then started
              again; time from its restart to a binding on it
  all-down    serial mode: every registrar answers 503 for a while,
              then one of them (not the best) comes back
  edge-killed, edge-frozen
              RFC 5626: the first of two edge proxies killed / frozen
  srv-frozen-udp, srv-killed-tcp
              DNS server sets: tier 0 is a domain whose SRV set names
              two registrars; the first is frozen (UDP) / killed (TCP):
              the gap to a binding on the second (same tier), whether
              the tier stayed in use, and the time until an INVITE
              reaches baresip again
  addr-frozen-udp, addr-killed-tcp
              the same with ONE SRV target whose name has two A
              records, 127.0.0.1 and 127.0.0.2 (a registrar on the same
              port at each): every address is a server; the one serreg
              uses first (read from `serreg json`) frozen / killed
  dial-frozen a call dialled during an outage nothing has found yet
              (issue 19): the registrar in use is frozen, and 0.1 s
              later the user dials bob at its domain; bob is a second
              baresip (no serreg) registered at both registrars.  The
              time from the dial to bob's ringing (his CALL_INCOMING:
              the INVITE reached him and he sends 180) and to the 180
              at the caller; the INVITEs bob got (one call, never two)

All times are read at the registrars, never from baresip: a failover
gap is from the fault to the 200 that a live registrar sent to a
REGISTER of the user (its own SRRES log line), confirmed by a binding
in its location table (kamcmd ul.lookup).  Message rates are the
requests the registrars logged (SRREQ lines: every request received,
digest resends and retransmissions included).  baresip is only asked
for `serreg json` and `reginfo` when the end state is checked.

frozen-udp, killed-tcp and failback also measure the *unreachable
time*: from the fault to the first INVITE sent through a live registrar
(tier 1's) that reaches baresip (calls again and again, as the srv-*
scenarios do).  --concurrent runs serreg with `serreg_concurrent 1`
(issue 19): tier 1 is registered beforehand as the hot standby, so the
failover gap (a new 200 at tier 1) does not apply; a failback leaves
tier 1 bound (the end state allows it).

Output: the settings, a progress line per run (stderr), then a
markdown report (stdout, and --out FILE).  Nothing is asserted: the
numbers are reported as measured.  --png-dir DIR also draws the first
run of each scenario as a timeline, DIR/failover-NAME.png (registrars,
bindings, fault, moves, probes; python3-matplotlib).

    /usr/bin/python3 test/bench/failover.py [--runs N | --quick]
        [--scenario NAME ...] [--out FILE] [--png-dir DIR] [--keep]
        [--noauth] [--concurrent]
    make bench-failover [BENCH_ARGS='--runs 3 --out /tmp/b.md']
"""

import argparse
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'integration'))

import rig  # noqa: E402
import timeline  # noqa: E402

USER = 'alice'

# The settings of every run (printed with the results)
CHECK_INTERVAL = 5      # serreg_check_interval [s]
PROBE_TIMEOUT = 2       # serreg_probe_timeout [s]
FAILBACK_HOLD = 2       # serreg_failback_hold [good probes]
HOLD_WATCH = 32 + 4     # [s] after the failover: the binding of the
                        # failback is watched until the departure's
                        # un-REGISTER has surely ended (Timer F)
BACKOFF_MAX = 8         # serreg_backoff_max [s]
BACKOFF_BASE = 30       # fixed in serreg.c (BACKOFF_BASE)
FBREGINT = 2            # ;fbregint= of the Cisco-mode accounts [s]
REGINT = 60             # ;regint= of every account [s]
RETRY_AFTER = 4         # Retry-After of the 503-ra scenario [s]
NDOWN = 3               # registrars (tiers) of the all-down scenario
DOMAIN = 'tier0.example'    # the SRV domain of the srv-* scenarios
DNS_TTL = 1             # [s] TTL of every DNS answer (srv-*)
PBX = 'pbx.' + DOMAIN   # the one SRV target of the addr-* scenarios

STABLE = 10.0           # [s] window counted while stable
DOWN = 32.0             # [s] all-down: fault -> first registrar back
DOWN_SETTLE = 6.0       # [s] all-down: not counted (detection, round)
RA_WATCH = 9.0          # [s] 503-ra: probes watched after the failover

# Bounds of the waits (a run that hits one is reported, not hung)
BIND_TIMEOUT = 10.0     # first binding at start
GAP_TIMEOUT = 40.0      # fault -> binding elsewhere
BACK_TIMEOUT = 40.0     # registrar back -> binding on it
DIAL_TIMEOUT = 40.0     # dial -> the callee rings (Timer B is 32 s)
QUIT_TIMEOUT = 10.0

# --foreign PATH: another serial registration module in serreg's place
# (Debian 13's own serreg.so), loaded as Debian's template does
# ('module_app serreg.so'); it has no status command, so only the
# registrars are read, and the waits are those of a module that leaves
# a registrar at its refresh (0.9 x regint + Timer F)
FOREIGN = None
FOREIGN_SCENARIOS = ('frozen-udp', 'killed-tcp', 'failback', 'all-down')
FOREIGN_TIMEOUT = 150.0

# --concurrent: serreg_concurrent 1 (issue 19), tier 1 is the hot standby
CONCURRENT = False

CONFIG = ['serreg_check_interval %d' % CHECK_INTERVAL,
          'serreg_probe_timeout %d' % PROBE_TIMEOUT,
          'serreg_failback_hold %d' % FAILBACK_HOLD,
          'serreg_backoff_max %d' % BACKOFF_MAX]


def log(text):
    print(text, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------
# One run: what it started, torn down in a safe order
# ---------------------------------------------------------------------

class Run:
    """Registrars and one baresip of one scenario run."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.regs = []
        self.edges = []         # RFC 5626 edge proxies, if any
        self.dnses = []         # DNS servers (rig.Dns), if any
        self.bs = None
        self.others = []        # baresips without serreg (callees)
        self.t0 = time.time()
        self.faults = []        # timeline.Fault, for the picture

    def registrars(self, n, hosts=None):
        """n more registrars, started: every registrar so far.  hosts:
        one per address, all on one port free on each."""
        port = rig.free_port_block(hosts) if hosts else None
        for i in range(n):
            kw = {'host': hosts[i], 'port': port} if hosts else {}
            k = rig.Kamailio(self.tmp, 'reg%d' % len(self.regs), **kw)
            self.regs.append(k)
            k.start()
        return self.regs

    def baresip(self, accounts, config=CONFIG, **kw):
        if FOREIGN:
            kw.update(module=FOREIGN, serreg_line='module_app serreg.so')
        self.bs = rig.Baresip(os.path.join(self.tmp, 'bs'), accounts,
                              config, **kw)
        # registrars frozen until ctrl_tcp is connected (see rig)
        return self.bs.start(hold=self.regs)

    def outbound(self):
        """Tier 0: an outbound registrar behind two edge proxies; tier
        1: a plain registrar.  (registrar, edge 1, edge 2, backup)"""
        reg = rig.Kamailio(self.tmp, 'reg0', template=rig.OUTBOUND_TEMPLATE)
        backup = rig.Kamailio(self.tmp, 'reg1')
        self.regs += [reg, backup]
        for k in self.regs:
            k.start()
        for i in range(2):
            e = rig.EdgeProxy(self.tmp, 'edge%d' % i, registrar=reg)
            self.edges.append(e)
            e.start()
        return reg, self.edges[0], self.edges[1], backup

    def dns(self, ttl=DNS_TTL):
        """A DNS server (dnsmasq, not started: add records, then
        start()), stopped after baresip at the teardown."""
        d = rig.Dns(self.tmp, 'dns%d' % len(self.dnses), ttl=ttl)
        self.dnses.append(d)
        return d

    def teardown(self):
        """Heal the registrars (so that the un-REGISTERs at quit are
        answered), quit baresip, kill everything by PID."""
        errors = []
        for k in self.regs + self.edges:
            try:
                k.heal()
            except rig.RigError as e:
                errors.append('heal %s: %s' % (k.name, e))
        for b in self.others:
            try:
                b.quit(timeout=QUIT_TIMEOUT)
            except Exception as e:       # noqa: BLE001 (reported)
                errors.append('quit %s: %s' % (b.confdir, e))
            b.close()
        if self.bs is not None:
            try:
                self.bs.quit(timeout=QUIT_TIMEOUT)
            except Exception as e:       # noqa: BLE001 (reported)
                errors.append('quit: %s' % e)
            if self.bs.crashed:
                errors.append('baresip died from signal %d'
                              % -self.bs.returncode)
            self.bs.close()
        for k in self.regs + self.edges:
            k.close()
        for d in self.dnses:
            d.close()
        return errors


# ---------------------------------------------------------------------
# Registrar-side measurements
# ---------------------------------------------------------------------

def bound_at(reg, since, timeout):
    """time.time() at which reg answered 200 to a REGISTER of USER asking
    for a binding, at or after since (from its own log), once it also
    shows the binding; None if not within timeout."""
    def ok():
        if not reg.running or reg.frozen:
            return None
        for r in reg.registers(USER, since):
            if r.answer == 200:
                try:
                    return r.answer_time if reg.has_binding(USER) \
                        else None
                except rig.RigError:
                    return None
        return None
    return rig.wait_until(ok, timeout=timeout, interval=0.05)


def count(regs, t0, t1):
    """Requests of USER the registrars logged in [t0, t1), per minute:
    dict reg (REGISTER expires>0), unreg (REGISTER expires=0: probes and
    un-REGISTERs), register (all REGISTERs), options; each one a message
    on the wire (digest resends and retransmissions count)."""
    n = {'reg': 0, 'unreg': 0, 'register': 0, 'options': 0}
    for k in regs:
        for r in k.requests(USER, since=t0):
            if r.time >= t1:
                continue
            if r.method == 'OPTIONS':
                n['options'] += 1
            elif r.method == 'REGISTER':
                n['register'] += 1
                n['reg' if r.is_registration else 'unreg'] += 1
    span = (t1 - t0) / 60.0
    return {key: val / span for key, val in n.items()}, n


def askable(k):
    return k.running and not k.frozen


def end_state(bs, regs, expect, faulted):
    """Is the end state right?  expect: index of the registrar (= tier)
    that must hold the binding and be serreg's current tier; faulted:
    indexes of registrars that are frozen/dead/refusing (a binding left
    there is stale, the UA could not remove it: reported, not wrong).

    Concurrent: serreg's hot standby tier holds a binding too, and
    must (its index is the tier).

    Returns (ok, text)."""
    wrong, notes = [], []
    st = None if FOREIGN else bs.status()
    hot = st.get('hot', -1) if st else -1
    if not regs[expect].has_binding(USER):
        wrong.append('no binding on %s' % regs[expect].name)
    for i, k in enumerate(regs):
        if i == expect or not askable(k):
            continue
        if i == hot:
            if not k.has_binding(USER):
                wrong.append('no binding on hot standby %s' % k.name)
            continue
        if k.has_binding(USER):
            if i in faulted:
                notes.append('stale binding on faulted %s' % k.name)
            else:
                wrong.append('binding on %s too' % k.name)
    if CONCURRENT and hot < 0 and expect + 1 < len(regs) and \
            expect + 1 not in faulted:
        wrong.append('no hot standby')
    if FOREIGN:
        return not wrong, '; '.join(wrong + notes) or 'ok (bindings)'
    if st.get('current') != expect:
        wrong.append('serreg current %s' % st.get('current'))
    cur = bs.current_aor()
    if cur != rig.aor(USER, regs[expect]):
        wrong.append('current UA %s' % cur)
    return not wrong, '; '.join(wrong + notes) or 'ok'


def wait_bound_first(run, idx=0):
    """Wait for the binding on regs[idx] after start; RuntimeError if
    it does not come."""
    k = run.regs[idx]
    if not rig.wait_until(lambda: k.has_binding(USER), BIND_TIMEOUT, 0.1):
        raise RuntimeError('no binding on %s %.0f s after start'
                           % (k.name, BIND_TIMEOUT))


def stable_window(run, res):
    """Let the start settle, then count STABLE seconds of traffic."""
    time.sleep(1.0)
    t0 = time.time()
    time.sleep(STABLE)
    res['stable'], _ = count(run.regs, t0, time.time())


def failover(run, res, fault, transport, fault_before=True,
             stable=True):
    """Common part of the failover scenarios: two registrars, tier 0
    in use, tier 1 standby (Cisco mode), fault on tier 0; the gap to
    the binding on tier 1."""
    a, b = run.registrars(2)
    bs = run.baresip([
        rig.account_line(USER, a, prio=0, fbregint=FBREGINT,
                         regint=REGINT, transport=transport),
        rig.account_line(USER, b, prio=1, fbregint=FBREGINT,
                         regint=REGINT, transport=transport)],
        CONFIG + rig.CALLEE_CONFIG)
    wait_bound_first(run)
    if CONCURRENT:
        wait_bound_first(run, 1)
    if stable:
        stable_window(run, res)
    else:
        time.sleep(1.0)
    # the fault at a random phase of the check timer (the checks start
    # with the registration, so a fixed delay would always hit the same
    # point of the interval)
    time.sleep(random.uniform(0, CHECK_INTERVAL))
    if fault_before:
        t_f = time.time()
        fault(a)
    else:
        fault(a)
        t_f = time.time()
    run.faults.append(timeline.Fault(0, t_f, fault.__doc__ or 'fault',
                                     lost=fault.__doc__ == 'killed'))
    # unreachable time: the first INVITE through tier 1's registrar
    # that reaches baresip (each attempt answered 404 costs ~0.1 s)
    t_r, ncalls = (None, 0) if FOREIGN else rig.wait_reachable(
        b, USER, bs, GAP_TIMEOUT, attempt=2.0, interval=0.2)
    res['reach'] = t_r - t_f if t_r else None
    res['ncalls'] = ncalls
    if CONCURRENT:
        # the binding was there before the fault; its 200 is the last
        # one before it (no REGISTER is needed for the move)
        if not b.has_binding(USER):
            raise RuntimeError('no binding on the hot standby %s after '
                               'the fault' % b.name)
        # serreg's move to it (its event: the one time read from
        # baresip, for the end state and the failback that follow)
        mv = bs.wait_move(1, GAP_TIMEOUT, t_f)
        if not mv:
            raise RuntimeError('no move to tier 1 %.0f s after the '
                               'fault' % GAP_TIMEOUT)
        t_b = mv[-1]['_time']
        res['moved'] = t_b - t_f
        res['gap'] = None
    else:
        t_b = bound_at(b, t_f, GAP_TIMEOUT)
        if t_b is None:
            raise RuntimeError('no binding on %s %.0f s after the fault'
                               % (b.name, GAP_TIMEOUT))
        res['gap'] = t_b - t_f
    # where the fault fell in the check cycle: the last check of tier 0
    # answered before it (the gap is about the rest of the interval,
    # plus the probe timeout if the registrar is silent)
    done = [r.answer_time for r in a.requests(USER, 'OPTIONS')
            if r.answer is not None and r.answer_time < t_f]
    res['phase'] = t_f - done[-1] if done else None
    res['note'] = ('last check %.1f s before the fault'
                   % res['phase'] if done else 'no check before the fault')
    if not FOREIGN:
        res['note'] += ('; INVITE through %s reached baresip after %s s '
                        '(%d calls)' % (b.name, '%.2f' % res['reach']
                                        if t_r else 'never', ncalls))
    if CONCURRENT:
        res['note'] += '; serreg moved after %.2f s' % res['moved']
    return bs, a, b, t_f, t_b


# ---------------------------------------------------------------------
# Scenarios: each fills res (gap, back, stable, down, end_ok, end, note)
# ---------------------------------------------------------------------

def freeze(k):
    """frozen (SIGSTOP)"""
    k.freeze()


def kill(k):
    """killed"""
    k.stop()


def answer_503_ra(k):
    """503, Retry-After"""
    k.set_reply(503, retry_after=RETRY_AFTER)


def s_frozen_udp(run, res):
    bs, a, b, _, _ = failover(run, res, freeze, 'udp')
    time.sleep(0.5)
    res['end_ok'], res['end'] = end_state(bs, run.regs, 1, {0})


def s_killed_tcp(run, res):
    bs, a, b, _, _ = failover(run, res, kill, 'tcp')
    time.sleep(0.5)
    res['end_ok'], res['end'] = end_state(bs, run.regs, 1, {0})


def s_503_ra(run, res):
    bs, a, b, t_f, t_b = failover(run, res, answer_503_ra, 'udp',
                                  fault_before=False)
    time.sleep(RA_WATCH)
    # R9: after a 503 with Retry-After, the next probe of that registrar
    # waits at least Retry-After (measured from the 503 answer before
    # each probe).  A probe is a REGISTER with expires=0 or, for a tier
    # that failed its check, an OPTIONS; the un-REGISTER of the parked
    # account uses the Call-ID of its registrations: not a probe.
    reg_ids = {r.callid for r in a.registers(USER)}
    waits, last503 = [], None
    for r in a.requests(USER, since=t_f):
        probe = (r.method == 'OPTIONS'
                 or (r.is_probe and r.callid not in reg_ids))
        if probe and not r.retry and not r.retrans and \
                last503 is not None:
            waits.append(r.time - last503)
        if r.answer == 503:
            last503 = r.answer_time
    res['ra_waits'] = waits
    res['note'] += ('; probe waits after 503: %s s' % (
        ', '.join('%.1f' % w for w in waits) or 'no probe'))
    res['end_ok'], res['end'] = end_state(bs, run.regs, 1, {0})


def s_failback(run, res):
    bs, a, b, t_f, t_b = failover(run, res, kill, 'udp', stable=False)
    # back at a random phase of the probes of the dead primary (period:
    # probe timeout + 80-100 % of fbregint)
    time.sleep(2.0 + random.uniform(0, PROBE_TIMEOUT + FBREGINT))
    a.start()
    t_back = time.time()        # the registrar answers again
    run.faults[-1] = run.faults[-1]._replace(until=t_back)
    t_a = bound_at(a, t_back, BACK_TIMEOUT)
    if t_a is None:
        raise RuntimeError('no binding on %s %.0f s after its restart'
                           % (a.name, BACK_TIMEOUT))
    res['back'] = t_a - t_back
    # probes: REGISTER expires=0, or OPTIONS for a tier that failed its
    # check
    probes = [r for r in a.requests(USER, since=t_back)
              if r.time < t_a and not r.retry and not r.retrans
              and (r.method == 'OPTIONS' or r.is_probe)]
    res['note'] += ('; probes to the primary before the binding: %d '
                    'OPTIONS, %d REGISTER' % (
                        sum(1 for r in probes if r.method == 'OPTIONS'),
                        sum(1 for r in probes if r.method != 'OPTIONS')))
    # make-before-break: the standby binding goes away after the 200
    # (concurrent: it stays, tier 1 is the hot standby again)
    if not CONCURRENT:
        rig.wait_until(lambda: not b.has_binding(USER), 5.0, 0.1)
    # the binding of the failback must hold: a late un-REGISTER of the
    # primary's departure (retransmitted until Timer F, 32 s after the
    # failover) would remove it (issue 9, bug 0)
    lost = binding_lost(a, t_b + HOLD_WATCH)
    res['end_ok'], res['end'] = end_state(bs, run.regs, 0, set())
    if lost:
        res['end_ok'] = False
        res['end'] = ('binding lost %.1f s after the failback; '
                      % (lost - t_a)) + res['end']


def binding_lost(reg, until, step=0.25):
    """Sample reg's binding of USER until `until` (bounded); the time it
    was first missing, or None if it held."""
    for _ in range(int(max(0.0, until - time.time()) / step) + 2):
        if not reg.has_binding(USER):
            return time.time()
        if time.time() >= until:
            break
        time.sleep(step)
    return None


def s_all_down(run, res):
    regs = run.registrars(NDOWN)
    bs = run.baresip([rig.account_line(USER, k, prio=i, regint=REGINT)
                      for i, k in enumerate(regs)])
    wait_bound_first(run)
    stable_window(run, res)
    for k in regs:
        k.set_reply(503)
    t_f = time.time()
    run.faults.extend(timeline.Fault(i, t_f, '503') for i in (0, 2))
    time.sleep(DOWN_SETTLE)
    t0 = time.time()
    time.sleep(max(0.0, t_f + DOWN - t0))
    t1 = time.time()
    res['down'], res['down_n'] = count(regs, t0, t1)
    res['down_span'] = t1 - t0
    st = {} if FOREIGN else bs.status()
    res['down_state'] = '%s/%s' % (st.get('state'), st.get('current'))
    # one comes back: not the best one
    regs[1].set_reply(None)
    t_back = time.time()
    run.faults.append(timeline.Fault(1, t_f, '503', t_back))
    t_b = bound_at(regs[1], t_back, BACK_TIMEOUT)
    if t_b is None:
        raise RuntimeError('no binding on %s %.0f s after it came back'
                           % (regs[1].name, BACK_TIMEOUT))
    res['back'] = t_b - t_back
    res['note'] = 'serreg while down: %s' % res['down_state']
    time.sleep(0.5)
    res['end_ok'], res['end'] = end_state(bs, regs, 1, {0, 2})


def edge_fault(run, res, fault):
    """RFC 5626 outbound, two edges (issue 10): the first edge fails;
    the account stays registered through the second flow (no move), and
    'reach' is the time until an INVITE through the registrar reaches
    baresip again (the registrar gives a dead flow 5 s, its fr_timer)."""
    reg, e1, e2, backup = run.outbound()
    bs = run.baresip([rig.outbound_account(USER, reg, (e1, e2),
                                           regint=REGINT, extra='prio=0'),
                      rig.account_line(USER, backup, prio=1,
                                       fbregint=FBREGINT, regint=REGINT)],
                     CONFIG + rig.CALLEE_CONFIG, uuid=True)
    if not rig.wait_until(lambda: len(rig.contacts(reg, USER)) == 2,
                          GAP_TIMEOUT):
        raise RuntimeError('two flows not bound: %s'
                           % (rig.contacts(reg, USER),))
    time.sleep(1.0)
    t_f = time.time()
    fault(e1)
    t_r, ncalls = rig.wait_reachable(reg, USER, bs, GAP_TIMEOUT)
    res['reach'] = t_r - t_f if t_r else None
    time.sleep(1.0)
    moves = [m for m in bs.moves(t_f)]
    res['note'] = ('INVITE reached baresip after %s s (%d calls); moves: '
                   '%d; new calls routed: %s' % (
                       '%.2f' % res['reach'] if t_r else 'never', ncalls,
                       len(moves), 'new calls through' in bs.log()))
    ok = not moves and not backup.has_binding(USER) and t_r is not None
    res['end_ok'] = ok
    res['end'] = 'ok' if ok else 'moved or unreachable'


def srv_failover(run, res, fault, transport, addresses=False):
    """DNS server sets (issue 10 item 1): tier 0 is alice at DOMAIN,
    an SRV set {reg0 prio 10, reg1 prio 20} (addresses: ONE SRV target,
    PBX, with two A records, reg0 on 127.0.0.1 and reg1 on 127.0.0.2 at
    one port, in the order serreg lists them); tier 1 alice at reg2 (by
    IP), Cisco mode.  The first server fails: serreg should ask the
    next server of the set at once, pin the account to it and register
    there, with no move.  'gap': fault -> the 200 that made the binding
    that reg1 (the same tier) is then seen to hold (one an un-REGISTER
    removes within milliseconds does not count); 'reach': fault -> an
    INVITE through reg1 reaches baresip; the end state is wrong if the
    binding is missing at any sample of the STABLE s after."""
    d = run.dns()
    if addresses:
        a, b = run.registrars(2, (rig.HOST, rig.HOST2))
        d.a(PBX, a.host, b.host)
        d.srv(DOMAIN, [(PBX, a.port, 10, 10)], proto=transport)
    else:
        a, b = run.registrars(2)
        d.server_set(DOMAIN, [a, b], proto=transport)
    c = run.registrars(1)[2]
    d.start()
    uri = 'sip:%s@%s' % (USER, DOMAIN)
    if transport != 'udp':
        uri += ';transport=' + transport
    bs = run.baresip(['<%s>;auth_pass=%s;regint=%d;prio=0;fbregint=%d'
                      % (uri, rig.PASSWORD, REGINT, FBREGINT),
                      rig.account_line(USER, c, prio=1, fbregint=FBREGINT,
                                       regint=REGINT, transport=transport)],
                     CONFIG + [d.config_line] + rig.CALLEE_CONFIG)
    if addresses:
        a, b = first_address(run, bs, a, b, transport)
    wait_bound_first(run, run.regs.index(a))
    stable_window(run, res)
    time.sleep(random.uniform(0, CHECK_INTERVAL))
    t_f = time.time()
    fault(a)
    run.faults.append(timeline.Fault(0, t_f, fault.__doc__ or 'fault',
                                     lost=fault.__doc__ == 'killed'))
    t_b = held_binding(b, t_f, GAP_TIMEOUT)
    if t_b is not None:
        res['gap'] = t_b - t_f
        # calls through the second server of the set until one reaches
        # baresip
        t_r, ncalls = rig.wait_reachable(b, USER, bs, GAP_TIMEOUT)
    else:
        t_r, ncalls = None, 0
    res['reach'] = t_r - t_f if t_r else None
    # after the failover: the pinned account's traffic for STABLE s,
    # its binding sampled meanwhile
    time.sleep(1.0)
    t0 = time.time()
    lost = rig.binding_gaps(b, USER, t0 + STABLE)
    after, _ = count(run.regs, t0, time.time())
    moves = bs.moves(t_f)
    done = [r.answer_time for r in a.requests(USER, 'OPTIONS')
            if r.answer is not None and r.answer_time < t_f]
    res['note'] = (
        '%s; INVITE reached baresip after %s s (%d calls); moves: %s; '
        'pinned: %s; after the failover REG %.1f / OPT %.1f per min' % (
            'last check %.1f s before the fault' % (t_f - done[-1])
            if done else 'no check before the fault',
            '%.2f' % res['reach'] if t_r else 'never', ncalls,
            ', '.join('%s->%s (%s)' % (m['from'], m['to'], m['reason'])
                      for m in moves) or 'none',
            'requests through server %s:%s:%d (pinned)'
            % (transport, b.host, b.port) in bs.log(),
            after['register'], after['options']))
    res['end_ok'], res['end'] = srv_end_state(bs, a, b, c)
    if lost and t_b is not None:
        res['end_ok'] = False
        res['end'] = ('binding on %s missing %.1f s after the fault; '
                      % (b.name, lost[0][0] - t_f)) + res['end']


def first_address(run, bs, a, b, transport):
    """(first, other) of the two addresses of PBX, in the order serreg
    lists them in `serreg json` (libre's: its key is the hash of the
    AoR); a serreg that lists no such set (before every address was a
    server): first the one holding the binding.  RuntimeError if
    neither comes within BIND_TIMEOUT."""
    names = {'%s:%s:%d' % (transport, k.host, k.port): k for k in (a, b)}

    def listed():
        for acc in bs.status()['accounts']:
            got = [s['addr'] for s in acc.get('servers', ())]
            if sorted(got) == sorted(names):
                return names[got[0]], names[got[1]]
        return None
    got = rig.wait_until(listed, 5.0, 0.1)
    if got:
        return got
    log('  serreg lists no set of %s' % sorted(names))
    bound = rig.wait_until(lambda: [k for k in (a, b)
                                    if k.has_binding(USER)],
                           BIND_TIMEOUT, 0.1)
    if not bound:
        raise RuntimeError('no binding on %s or %s' % (a.name, b.name))
    return (a, b) if bound[0] is a else (b, a)


def held_binding(reg, since, timeout):
    """time.time() of the 200 (reg's log) to the REGISTER of USER that
    made the binding reg is seen to hold, polled from now on (a binding
    removed again within milliseconds is not seen); None if none within
    timeout."""
    def held():
        try:
            return reg.has_binding(USER)
        except rig.RigError:
            return False
    if not rig.wait_until(held, timeout, 0.05):
        return None
    t_seen = time.time()
    ok = [r.answer_time for r in reg.registers(USER, since)
          if r.answer == 200 and r.answer_time is not None
          and r.answer_time <= t_seen]
    return ok[-1] if ok else t_seen


def srv_end_state(bs, a, b, c):
    """The end state of the srv-* scenarios: alice bound at b (the
    second server of tier 0's set), not at c (tier 1), serreg's current
    tier 0, baresip's current UA the domain's account.  (ok, text)"""
    wrong, notes = [], []
    if not b.has_binding(USER):
        wrong.append('no binding on %s' % b.name)
    if c.has_binding(USER):
        wrong.append('binding on %s (tier 1): moved' % c.name)
    if askable(a) and a.has_binding(USER):
        notes.append('stale binding on faulted %s' % a.name)
    st = bs.status()
    if st.get('current') != 0:
        wrong.append('serreg current %s' % st.get('current'))
    cur = bs.current_aor()
    if cur != 'sip:%s@%s' % (USER, DOMAIN):
        wrong.append('current UA %s' % cur)
    return not wrong, '; '.join(wrong + notes) or 'ok'


def s_srv_frozen_udp(run, res):
    srv_failover(run, res, freeze, 'udp')


def s_srv_killed_tcp(run, res):
    srv_failover(run, res, kill, 'tcp')


def s_addr_frozen_udp(run, res):
    srv_failover(run, res, freeze, 'udp', addresses=True)


def s_addr_killed_tcp(run, res):
    srv_failover(run, res, kill, 'tcp', addresses=True)


def s_dial_frozen(run, res):
    """A call dialled 0.1 s after the registrar in use froze, before
    any check found it (issue 19): dial -> bob rings (his CALL_INCOMING)
    and dial -> 180 at the caller, and how many INVITEs reached bob.
    A module that does not place the call again leaves it to Timer B
    (32 s, then 408): no ringing within DIAL_TIMEOUT."""
    a, b = run.registrars(2)
    bob = rig.Baresip(os.path.join(run.tmp, 'bob'),
                      [rig.account_line('bob', k, regint=600)
                       for k in (a, b)],
                      rig.CALLEE_CONFIG, serreg=False)
    run.others.append(bob)
    bob.start(hold=run.regs)
    bs = run.baresip([
        rig.account_line(USER, a, prio=0, fbregint=FBREGINT,
                         regint=REGINT),
        rig.account_line(USER, b, prio=1, fbregint=FBREGINT,
                         regint=REGINT)],
        CONFIG + rig.CALLEE_CONFIG)
    wait_bound_first(run)
    if CONCURRENT:
        wait_bound_first(run, 1)
    for k in (a, b):
        if not rig.wait_until(lambda: k.has_binding('bob'), BIND_TIMEOUT,
                              0.1):
            raise RuntimeError('bob not bound at %s' % k.name)
    time.sleep(1.0 + random.uniform(0, CHECK_INTERVAL))
    t_f = time.time()
    a.freeze()
    run.faults.append(timeline.Fault(0, t_f, 'frozen'))
    time.sleep(0.1)
    t_dial = time.time()
    bs.command('dial', 'sip:bob@%s:%d' % (rig.HOST, a.port))
    inc = bob.wait_event('CALL_INCOMING', DIAL_TIMEOUT, t_dial)
    ring = bs.wait_event('CALL_RINGING', 5.0 if inc else 0.1, t_dial)
    closed = bs.events('CALL_CLOSED', since=t_dial)
    res['incoming'] = inc['_time'] - t_dial if inc else None
    res['ring'] = ring['_time'] - t_dial if ring else None
    time.sleep(1.0)             # a second INVITE would be there by now
    ports = [int(e['accountaor'].rsplit(':', 1)[1])
             for e in bob.events('CALL_INCOMING', since=t_dial)]
    res['invites'] = len(ports)
    res['note'] = ('bob rang: %s after the dial (through %s); 180 at '
                   'the caller: %s; INVITEs at bob: %d; the caller\'s '
                   'call closed: %s' % (
                       '%.2f s' % res['incoming'] if inc else 'never',
                       ', '.join('reg0' if p == a.port else 'reg1'
                                 for p in ports) or '-',
                       '%.2f s' % res['ring'] if ring else 'never',
                       len(ports),
                       ', '.join('%s after %.1f s' % (
                           e.get('param', '?'), e['_time'] - t_dial)
                           for e in closed) or 'no'))
    bs.command('hangup')
    bob.command('hangup')
    # the engine left the frozen tier (the call's check or its own)
    mv = bs.wait_move(1, GAP_TIMEOUT, t_f)
    res['moved'] = mv[-1]['_time'] - t_f if mv else None
    res['note'] += ('; serreg left the frozen tier %s after the fault'
                    % ('%.2f s' % res['moved'] if mv else 'never'))
    time.sleep(0.5)
    res['end_ok'], res['end'] = end_state(bs, run.regs, 1, {0})
    if res['invites'] > 1:
        res['end_ok'] = False
        res['end'] = 'two calls at bob; ' + res['end']


def s_edge_killed(run, res):
    edge_fault(run, res, lambda e: e.stop())


def s_edge_frozen(run, res):
    edge_fault(run, res, lambda e: e.freeze())


SCENARIOS = [
    # name, function, transport, mode, description
    ('frozen-udp', s_frozen_udp, 'udp', 'cisco',
     'registrar in use frozen (SIGSTOP)'),
    ('killed-tcp', s_killed_tcp, 'tcp', 'cisco',
     'registrar in use killed (SIGKILL)'),
    ('edge-killed', s_edge_killed, 'tcp', 'outbound',
     'RFC 5626: the first of two edge proxies killed'),
    ('edge-frozen', s_edge_frozen, 'tcp', 'outbound',
     'RFC 5626: the first of two edge proxies frozen'),
    ('503-ra', s_503_ra, 'udp', 'cisco',
     'registrar in use answers 503, Retry-After: %d' % RETRY_AFTER),
    ('failback', s_failback, 'udp', 'cisco',
     'primary killed, then started again (failback)'),
    ('all-down', s_all_down, 'udp', 'serial',
     '%d registrars answer 503 for %.0f s, then tier 1 is back'
     % (NDOWN, DOWN)),
    ('srv-frozen-udp', s_srv_frozen_udp, 'udp', 'cisco',
     'DNS server set: the first SRV server of tier 0 frozen'),
    ('srv-killed-tcp', s_srv_killed_tcp, 'tcp', 'cisco',
     'DNS server set: the first SRV server of tier 0 killed'),
    ('addr-frozen-udp', s_addr_frozen_udp, 'udp', 'cisco',
     'DNS server set: the first address of tier 0\'s one SRV target '
     'frozen'),
    ('addr-killed-tcp', s_addr_killed_tcp, 'tcp', 'cisco',
     'DNS server set: the first address of tier 0\'s one SRV target '
     'killed'),
    ('dial-frozen', s_dial_frozen, 'udp', 'cisco',
     'a call dialled 0.1 s after the registrar in use froze'),
]


# ---------------------------------------------------------------------
# Bounds, statistics, report
# ---------------------------------------------------------------------

def backoff_bound(ntiers, span):
    """Most REGISTERs (expires>0) per minute serreg may send with every
    registrar answering 503, in a window of span seconds, by the backoff
    formula (docs/design.md 5.5, engine.c enter_waiting):
      wait_n = jitter(min(backoff_max, base * 2^n), 50..100 %)
    so no wait is shorter than wmin = 0.5 * min(backoff_max, base);
    each round tries every serial tier once, one REGISTER each (the 503
    comes before any digest challenge); a window of span seconds holds
    at most 1 + floor(span / wmin) rounds."""
    wmin = 0.5 * min(BACKOFF_MAX, BACKOFF_BASE)
    rounds = 1 + int(span // wmin)
    return ntiers * rounds * 60.0 / span, wmin, rounds


def med_max(vals, fmt='%.2f'):
    vals = [v for v in vals if v is not None]
    if not vals:
        return '-'
    return (fmt + ' / ' + fmt) % (statistics.median(vals), max(vals))


def med(vals, fmt='%.1f'):
    vals = [v for v in vals if v is not None]
    return fmt % statistics.median(vals) if vals else '-'


def rate_cell(results, key, stat=statistics.median):
    rows = [r[key] for r in results if r.get(key)]
    if not rows:
        return '-'
    return 'REG %.1f / OPT %.1f' % (stat([x['register'] for x in rows]),
                                    stat([x['options'] for x in rows]))


def settings_text():
    return '\n'.join([
        '- serreg_check_interval %d, serreg_probe_timeout %d, '
        'serreg_failback_hold %d, serreg_backoff_max %d (backoff base '
        '%d s, fixed)' % (CHECK_INTERVAL, PROBE_TIMEOUT, FAILBACK_HOLD,
                           BACKOFF_MAX, BACKOFF_BASE),
        '- accounts: regint=%d on every account; fbregint=%d on every '
        'account in Cisco mode, none in serial mode' % (REGINT, FBREGINT),
        '- registrars %s' % ('challenge REGISTER (digest auth)' if rig.AUTH
                             else 'do not challenge REGISTER (no auth)'),
        '- registration: %s' % (
            'concurrent (serreg_concurrent 1): tier 1 registered too, '
            'the hot standby' if CONCURRENT else
            'successive (serreg_concurrent 0, the default): one tier '
            'registered'),
        '- transport per scenario as in the table; one user, one account '
        'per registrar, tier = prio = registrar index',
        '- faults at a random phase: 0-%d s after the stable window '
        '(check timer); the primary back 2-%d s after the failover '
        '(probe timer)' % (CHECK_INTERVAL, 2 + PROBE_TIMEOUT + FBREGINT),
        '- srv-*: tier 0 is <sip:%s@%s> (no port: NAPTR, SRV, A through '
        'baresip\'s dns_server, dnsmasq, TTL %d s), SRV set of two '
        'registrars (prio 10, 20); tier 1 one registrar by IP; '
        'serreg_server_retry at its default; addr-*: the SRV set is '
        'one target, %s, with two A records (127.0.0.1, 127.0.0.2, a '
        'registrar on one port at each)' % (USER, DOMAIN, DNS_TTL, PBX),
        '- windows: stable %.0f s (after the first binding + 1 s; '
        'not in failback); '
        'all down: counted from %.0f s to %.0f s after the fault; '
        'Retry-After %d s' % (STABLE, DOWN_SETTLE, DOWN, RETRY_AFTER),
    ])


def versions():
    out = []
    for cmd in (['dpkg-query', '-W', '-f=${Version}', 'baresip-core'],
                ['dpkg-query', '-W', '-f=${Version}', 'kamailio'],
                ['git', '-C', rig.ROOT, 'describe', '--always',
                 '--dirty']):
        try:
            out.append(subprocess.run(cmd, capture_output=True, text=True,
                                      timeout=10).stdout.strip() or '?')
        except (OSError, subprocess.SubprocessError):
            out.append('?')
    module = ('FOREIGN module %s' % FOREIGN if FOREIGN else
              'serreg %s' % out[2])
    return ('baresip-core %s, kamailio %s, %s, %s, %d CPUs, '
            'load %.2f' % (out[0], out[1], module, platform.machine(),
                           os.cpu_count() or 0, os.getloadavg()[0]))


def report(results, runs, argv, started, elapsed, env):
    lines = []
    w = lines.append
    w('Command: `%s`' % ' '.join(argv))
    w('')
    w('Run %s UTC, %.0f s; %s.' % (
        time.strftime('%Y-%m-%d %H:%M', time.gmtime(started)), elapsed,
        env))
    w('')
    w('Settings:')
    w('')
    w(settings_text())
    w('')
    w('| # | scenario | transport | mode | runs ok | failover gap '
      'median / max [s] | back to bound median / max [s] | INVITE '
      'reaches baresip again median / max [s] | stable '
      'msgs/min (median) | all down msgs/min (median) | end state right |')
    w('|---|---|---|---|---|---|---|---|---|---|---|')
    for i, (name, _, transport, mode, desc) in enumerate(SCENARIOS, 1):
        rs = results.get(name)
        if rs is None:
            continue
        ok = [r for r in rs if not r.get('error')]
        w('| %d | %s: %s | %s | %s | %d/%d | %s | %s | %s | %s | %s | '
          '%d/%d |'
          % (i, name, desc, transport.upper(), mode, len(ok), len(rs),
             med_max([r.get('gap') for r in ok]),
             med_max([r.get('back') for r in ok]),
             med_max([r.get('reach') for r in ok]),
             rate_cell(ok, 'stable'), rate_cell(ok, 'down'),
             sum(1 for r in ok if r.get('end_ok')), len(rs)))
    w('')
    w('msgs/min: requests of the user the registrars received (REG = '
      'REGISTER of any kind, OPT = OPTIONS), digest resends included. '
      '"back to bound": from the registrar answering again to the 200 '
      'for a REGISTER on it (failback: restart of the primary; all '
      'down: the 503 fault lifted on tier 1).')
    w('')
    w('Targets of issue 3:')
    w('')
    w('| target | limit | measured median | measured max | median '
      'within |')
    w('|---|---|---|---|---|')

    def target(label, limit, vals, fmt='%.2f s', never=False):
        # never: a run without a value did not get there in time
        vals = [float('inf') if v is None and never else v
                for v in vals]
        vals = [v for v in vals if v is not None]
        if not vals:
            w('| %s | %s | - | - | not measured |' % (label, limit[0]))
            return
        m = statistics.median(vals)

        def cell(v):
            return 'never' if v == float('inf') else fmt % v
        w('| %s | %s | %s | %s | %s |' % (
            label, limit[0], cell(m), cell(max(vals)),
            'yes' if m <= limit[1] else 'NO'))

    def vals(name, key):
        return [r.get(key) for r in results.get(name, ())
                if not r.get('error')]

    if 'frozen-udp' in results:
        target('failover gap, frozen registrar, UDP', ('<= 8 s', 8.0),
               vals('frozen-udp', 'gap'))
    if 'killed-tcp' in results:
        target('failover gap, killed registrar, TCP', ('<= 1 s', 1.0),
               vals('killed-tcp', 'gap'))
    for name, what in (('frozen-udp', 'frozen registrar, UDP'),
                       ('killed-tcp', 'killed registrar, TCP')):
        if name in results and CONCURRENT:
            target('unreachable time, %s, concurrent (issue 19: 0 s is '
                   'the goal)' % what, ('<= 1 s', 1.0),
                   vals(name, 'reach'))
    if 'srv-frozen-udp' in results:
        target('failover gap, frozen first SRV server, UDP, same tier',
               ('<= 8 s', 8.0), vals('srv-frozen-udp', 'gap'))
    if 'srv-killed-tcp' in results:
        target('failover gap, killed first SRV server, TCP, same tier',
               ('<= 1 s', 1.0), vals('srv-killed-tcp', 'gap'))
    if 'addr-frozen-udp' in results:
        target('failover gap, frozen first address of a target, UDP, '
               'same tier', ('<= 8 s', 8.0), vals('addr-frozen-udp', 'gap'))
    if 'addr-killed-tcp' in results:
        target('failover gap, killed first address of a target, TCP, '
               'same tier', ('<= 1 s', 1.0), vals('addr-killed-tcp', 'gap'))
    if '503-ra' in results:
        waits = [min(r['ra_waits']) for r in results['503-ra']
                 if not r.get('error') and r.get('ra_waits')]
        if waits:
            m = min(waits)
            w('| (R9) shortest wait of a probe after a 503 with '
              'Retry-After: %d (not an issue target) | >= %d s | %.1f s '
              '(of the shortest per run) | %.1f s (shortest of all: '
              'min, not max) | %s |'
              % (RETRY_AFTER, RETRY_AFTER, statistics.median(waits), m,
                 'yes' if statistics.median(waits) >= RETRY_AFTER - 0.05
                 else 'NO'))
    if 'dial-frozen' in results:
        target('a call dialled during an undetected outage: dial -> '
               'the callee rings (issue 19)',
               ('<= probe timeout + 1 = %d s' % (PROBE_TIMEOUT + 1),
                PROBE_TIMEOUT + 1.0), vals('dial-frozen', 'incoming'),
               never=True)
        target('the same: dial -> 180 at the caller',
               ('<= probe timeout + 1 = %d s' % (PROBE_TIMEOUT + 1),
                PROBE_TIMEOUT + 1.0), vals('dial-frozen', 'ring'),
               never=True)
    if 'failback' in results:
        lim = FBREGINT * FAILBACK_HOLD + 1
        target('failback delay', ('<= fbregint x hold + 1 = %d s' % lim,
                                  lim), vals('failback', 'back'))
    if 'all-down' in results:
        ok = [r for r in results['all-down'] if not r.get('error')]
        spans = [r['down_span'] for r in ok]
        if spans:
            bound, wmin, rounds = backoff_bound(NDOWN, min(spans))
            lim = ('<= %.1f (%d tiers x %d rounds in %.0f s, wait >= '
                   '%.1f s)' % (bound, NDOWN, rounds, min(spans), wmin),
                   bound)
        else:
            lim = ('backoff formula', 0)
        target('all down: REGISTERs (expires>0) per min', lim,
               [r['down']['reg'] for r in ok], fmt='%.1f')
    w('')
    w('Per run:')
    w('')
    w('| scenario | run | gap [s] | back [s] | stable REG (exp>0 + '
      'exp=0) / OPT per min | down REG (exp>0 + exp=0) / OPT per min '
      '| end state | note |')
    w('|---|---|---|---|---|---|---|---|')

    def rates(x):
        if not x:
            return '-'
        return '%.1f (%.1f + %.1f) / %.1f' % (
            x['register'], x['reg'], x['unreg'], x['options'])
    for name, *_ in SCENARIOS:
        for i, r in enumerate(results.get(name, ()), 1):
            if r.get('error'):
                w('| %s | %d | error: %s | | | | | |'
                  % (name, i, r['error'].replace('|', '/')
                     .replace('\n', ' ')[:200]))
                continue
            w('| %s | %d | %s | %s | %s | %s | %s | %s |' % (
                name, i,
                '%.2f' % r['gap'] if r.get('gap') is not None else '-',
                '%.2f' % r['back'] if r.get('back') is not None else '-',
                rates(r.get('stable')), rates(r.get('down')),
                r.get('end', '?'), r.get('note', '')))
    return '\n'.join(lines) + '\n'


def draw(run, name, outdir):
    """The run as a timeline picture, before the teardown heals it."""
    desc = next(s[4] for s in SCENARIOS if s[0] == name)
    transport = next(s[2] for s in SCENARIOS if s[0] == name)
    path = os.path.join(outdir, 'failover-%s.png' % name)
    time.sleep(1.5)             # the state after the last move shows too
    try:
        os.makedirs(outdir, exist_ok=True)
        moves = run.bs.moves() if run.bs is not None else []
        timeline.plot(path, 'failover benchmark, %s: %s (%s)'
                      % (name, desc, transport.upper()), run.regs, USER,
                      run.t0, time.time(), moves=moves, faults=run.faults)
        log('%-10s timeline: %s' % (name, path))
    except Exception as e:       # noqa: BLE001 (reported, not fatal)
        log('%-10s timeline not drawn: %s: %s'
            % (name, type(e).__name__, e))


def main(argv):
    global STABLE, CONCURRENT, FOREIGN, GAP_TIMEOUT, BACK_TIMEOUT
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--runs', type=int, default=5,
                    help='runs per scenario (default 5)')
    ap.add_argument('--quick', action='store_true',
                    help='1 run per scenario')
    ap.add_argument('--scenario', action='append',
                    choices=[s[0] for s in SCENARIOS],
                    help='run only this scenario (repeatable)')
    ap.add_argument('--out', help='also write the report to this file')
    ap.add_argument('--png-dir', help='draw the first run of each '
                    'scenario to DIR/failover-NAME.png (matplotlib)')
    ap.add_argument('--keep', action='store_true',
                    help='keep the run directories (logs)')
    ap.add_argument('--noauth', action='store_true',
                    help='registrars that do not challenge REGISTER '
                    '(default: digest auth)')
    ap.add_argument('--stable', type=float, default=STABLE,
                    help='seconds of the stable window (default %.0f; '
                    'more than regint=%d to count refreshes)'
                    % (STABLE, REGINT))
    ap.add_argument('--concurrent', action='store_true',
                    help='serreg_concurrent 1: tier 1 is registered too, '
                    'as the hot standby (issue 19)')
    ap.add_argument('--foreign', metavar='SO',
                    help='another serial registration module instead of '
                    'serreg (Debian 13\'s own: /usr/lib/baresip/modules/'
                    'serreg.so, or serreg.so.distrib with serreg\'s '
                    'package installed), loaded with module_app; only '
                    'the scenarios ' + ', '.join(FOREIGN_SCENARIOS))
    args = ap.parse_args(argv[1:])
    rig.AUTH = not args.noauth
    if not 1.0 <= args.stable <= 600.0:
        ap.error('--stable must be in 1..600')
    STABLE = args.stable
    if args.concurrent:
        if args.foreign:
            ap.error('--concurrent: serreg only, not with --foreign')
        CONCURRENT = True
        CONFIG.append('serreg_concurrent 1')
    if args.foreign:
        if not os.path.exists(args.foreign):
            ap.error('%s not found' % args.foreign)
        FOREIGN = os.path.abspath(args.foreign)
        GAP_TIMEOUT = BACK_TIMEOUT = FOREIGN_TIMEOUT
        bad = [x for x in (args.scenario or []) if x not in
               FOREIGN_SCENARIOS]
        if bad:
            ap.error('--foreign: not with %s' % ', '.join(bad))
        args.scenario = args.scenario or list(FOREIGN_SCENARIOS)
    runs = 1 if args.quick else args.runs
    if not 1 <= runs <= 100:
        ap.error('--runs must be in 1..100')
    if not os.path.exists(rig.MODULE):
        ap.error('%s not found: run make first' % rig.MODULE)
    chosen = [s for s in SCENARIOS
              if not args.scenario or s[0] in args.scenario]

    log('serreg failover benchmark, %d run(s) per scenario, registrars '
        '%s' % (runs, 'with digest auth' if rig.AUTH else
                'without digest auth'))
    log(settings_text())
    env = versions()            # at the start: the code that runs
    base = tempfile.mkdtemp(prefix='serreg-bench-')
    started, t0 = time.time(), time.monotonic()
    results = {}
    try:
        for name, fn, *_ in chosen:
            results[name] = []
            for i in range(runs):
                run = Run(os.path.join(base, '%s-%d' % (name, i + 1)))
                res = {}
                ts = time.monotonic()
                try:
                    fn(run, res)
                except Exception as e:   # noqa: BLE001 (reported)
                    res['error'] = '%s: %s' % (type(e).__name__, e)
                finally:
                    if args.png_dir and i == 0:
                        draw(run, name, args.png_dir)
                    errs = run.teardown()
                if errs and not res.get('error'):
                    res['end_ok'] = False
                    res['end'] = (res.get('end', '') + '; teardown: '
                                  + '; '.join(errs))
                results[name].append(res)
                log('%-10s run %d/%d (%4.1f s): gap %s reach %s back %s '
                    'end %s %s'
                    % (name, i + 1, runs, time.monotonic() - ts,
                       '%.2f' % res['gap'] if res.get('gap') is not None
                       else '-',
                       '%.2f' % res['reach']
                       if res.get('reach') is not None else '-',
                       '%.2f' % res['back'] if 'back' in res else '-',
                       res.get('end', '-'), res.get('error', '')))
    finally:
        if args.keep:
            log('run directories kept in %s' % base)
        else:
            shutil.rmtree(base, ignore_errors=True)
    text = report(results, runs, ['/usr/bin/python3',
                                  'test/bench/failover.py'] + argv[1:],
                  started, time.monotonic() - t0, env)
    sys.stdout.write(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
