"""Serial mode (no fbregint) against real baresip and kamailio.

Rules R1-R5 of shared/docs/behaviour.md and its serial scenarios.  The
truth is read at the registrars (bindings, request logs) and from
baresip's events; regint=10 so a refresh (at 90 %) notices a fault.
"""

import time

import rig
from rig import account_line, aor, wait_until

# every test against registrars that challenge REGISTER and that do not
AUTH_MODES = ('auth', 'noauth')

FAST = ['serreg_probe_timeout 2', 'serreg_failback_hold 1',
        'serreg_backoff_max 4']
REFRESH = 15     # a refresh (9 s) plus margin


def tier_account(status, tier):
    """The one account of a tier in a `serreg json` status."""
    accs = [x for x in status['accounts'] if x['tier'] == tier]
    assert len(accs) == 1, status
    return accs[0]


def tier_state(bs, tier):
    """State of the one account of a tier, as serreg shows it now."""
    return tier_account(bs.status(), tier)['state']


def bound(regs, user='alice'):
    """Indexes of the registrars holding a binding for user."""
    return [i for i, r in enumerate(regs) if r.has_binding(user)]


def test_r1_only_best_tier_registers(registrars, baresip):
    a, b, c = registrars(3)
    t0 = time.time()
    bs = baresip([account_line('alice', c, prio=2),
                  account_line('alice', b, prio=1),
                  account_line('alice', a, prio=0)], FAST)

    assert wait_until(lambda: bound([a, b, c]) == [0], 5)
    time.sleep(3)
    assert bound([a, b, c]) == [0]
    # standby registrars never saw a REGISTER with expires>0
    assert b.registers('alice', t0) == []
    assert c.registers('alice', t0) == []
    assert bs.current_aor() == aor('alice', a)
    assert bs.status()['current'] == 0


def test_r2_same_prio_parallel_tier_fails_when_all_fail(registrars,
                                                         baresip):
    a1, a2, b = registrars(3)
    t0 = time.time()
    bs = baresip([account_line('alice', a1, prio=0),
                  account_line('alice', a2, prio=0),
                  account_line('alice', b, prio=1)], FAST)

    # same-prio accounts register in parallel
    assert wait_until(lambda: bound([a1, a2, b]) == [0, 1], 5)

    a1.set_reply(503)
    time.sleep(REFRESH)
    assert bs.status()['current'] == 0
    assert [m for m in bs.moves(t0) if m['reason'] != 'start'] == []
    assert a2.has_binding('alice') and not b.has_binding('alice')

    a2.set_reply(503)
    mv = bs.wait_move(1, REFRESH)
    assert mv and mv[-1]['from'] == '0' and mv[-1]['reason'] == \
        'tier_failed'
    assert wait_until(lambda: b.has_binding('alice'), 5)
    assert bs.current_aor() == aor('alice', b)


def test_r3_gaps_skipped_and_worst_wraps_to_best(registrars, baresip):
    a, b, c = registrars(3)
    t0 = time.time()
    bs = baresip([account_line('alice', a, prio=0),
                  account_line('alice', b, prio=2),
                  account_line('alice', c, prio=5)], FAST)
    assert wait_until(lambda: bound([a, b, c]) == [0], 5)

    a.set_reply(503)
    assert bs.wait_move(2, REFRESH, t0)
    assert wait_until(lambda: b.has_binding('alice'), 5)

    b.set_reply(503)
    assert bs.wait_move(5, REFRESH, t0)
    assert wait_until(lambda: c.has_binding('alice'), 5)
    assert bs.current_aor() == aor('alice', c)

    # the worst tier fails; tier 0 works again: wrap around to it
    a.set_reply(None)
    c.set_reply(503)
    t1 = time.time()
    mv = bs.wait_move(0, REFRESH, t1)
    assert mv and mv[-1]['from'] == '5'
    assert wait_until(lambda: a.has_binding('alice'), 5)
    assert bs.current_aor() == aor('alice', a)
    # registered on one tier only: b and c were taken off (b answers
    # 503 to everything, its un-REGISTER too: its binding goes when it
    # expires, regint after b's last 200)
    assert wait_until(lambda: not b.has_binding('alice'),
                      rig.DEFAULT_REGINT + 2)


def test_r3_tcp_registrar_killed(registrars, baresip):
    a, b = registrars(2)
    bs = baresip([account_line('alice', a, prio=0, transport='tcp'),
                  account_line('alice', b, prio=1, transport='tcp')],
                 FAST)
    assert wait_until(lambda: bound([a, b]) == [0], 5)

    t0 = time.time()
    a.stop()
    mv = bs.wait_move(1, REFRESH, t0)
    assert mv, bs.log()
    assert wait_until(lambda: b.has_binding('alice'), 5)
    print('failover gap (TCP kill, regint=10): %.1f s'
          % (mv[-1]['_time'] - t0))


def test_r4_no_fast_loop_then_first_available(registrars, baresip):
    a, b = registrars(2)
    a.set_reply(503)
    b.set_reply(503)
    t0 = time.time()
    bs = baresip([account_line('alice', a, prio=0),
                  account_line('alice', b, prio=1)], FAST)

    time.sleep(20)
    na = len(a.registers('alice', t0))
    nb = len(b.registers('alice', t0))
    # waits of 50-100 % of min(4 s, 30 s * 2^n) between rounds: at most
    # 20 / 2 + 1 rounds; every tier is retried in each round
    assert 2 <= na <= 11 and 2 <= nb <= 11, (na, nb)
    assert bs.status()['state'] in ('waiting', 'trying')
    assert bound([a, b]) == []

    b.set_reply(None)
    assert bs.wait_move(1, 10, t0)
    assert wait_until(lambda: b.has_binding('alice'), 5)
    a.set_reply(None)
    time.sleep(5)
    # serial mode: stays on the first tier that works
    assert bound([a, b]) == [1]
    print('REGISTERs in 20 s with both down: %d + %d' % (na, nb))


def test_r5_left_tier_never_counts_as_registered(registrars, baresip):
    a, b = registrars(2)
    bs = baresip([account_line('alice', a, prio=0, fbregint=2),
                  account_line('alice', b, prio=1, fbregint=2)], FAST)
    assert wait_until(lambda: bound([a, b]) == [0], 5)

    a.set_reply(503)
    assert bs.wait_move(1, REFRESH)
    a.set_reply(None)
    # back on tier 0: tier 1 was unregistered with a 200
    assert bs.wait_move(0, 15, time.time() - 0.5)
    assert wait_until(lambda: not b.has_binding('alice'), 5)
    st = bs.status()
    states = {x['tier']: (x['role'], x['state']) for x in st['accounts']}
    assert states[1][0] == 'standby' and states[1][1] != 'registered'
    assert st['current'] == 0


def test_r20_check_finds_frozen_registrar(registrars, baresip):
    """With serreg_check_interval, a frozen registrar of the tier in use
    is found by the OPTIONS check, not at the next refresh + 32 s."""
    a, b = registrars(2)
    bs = baresip([account_line('alice', a, prio=0, regint=600),
                  account_line('alice', b, prio=1, regint=600)],
                 ['serreg_check_interval 2', 'serreg_probe_timeout 2'])
    assert wait_until(lambda: bound([a, b]) == [0], 5)
    time.sleep(3)
    assert len(a.requests(method='OPTIONS')) >= 1

    t0 = time.time()
    a.freeze()
    mv = bs.wait_move(1, 10, t0)
    assert mv, bs.log()
    gap = mv[-1]['_time'] - t0
    # check interval (2 s, jittered) + probe timeout (2 s) + round trip
    assert gap <= 5.0, gap
    assert mv[-1]['answer'] == 'Connection timed out'
    assert wait_until(lambda: b.has_binding('alice'), 5)
    a.thaw()
    print('failover gap, registrar frozen (UDP), check 2 s: %.1f s' % gap)
