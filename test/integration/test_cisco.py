"""Cisco mode (fbregint > 0) against real baresip and kamailio.

Rules R6-R10 of shared/docs/behaviour.md and its Cisco scenarios.
"""

import time

from rig import account_line, aor, wait_until
from test_serial import FAST, REFRESH, bound, tier_account, tier_state

# every test against registrars that challenge REGISTER and that do not
AUTH_MODES = ('auth', 'noauth')


def test_r6_probes_at_fbregint_jittered(registrars, baresip):
    a, b = registrars(2)
    bs = baresip([account_line('alice', a, prio=0),
                  account_line('alice', b, prio=1, fbregint=3)], FAST)
    assert wait_until(lambda: bound([a, b]) == [0], 5)
    time.sleep(2)      # past the first probe, sent within 1 s of start
    t0 = time.time()
    time.sleep(16)

    probes = b.probes('alice', t0)
    gaps = [y.time - x.time for x, y in zip(probes, probes[1:])]
    # 80-100 % of 3 s, plus the digest round trip
    assert 4 <= len(probes) <= 7, probes
    assert all(2.3 <= g <= 3.6 for g in gaps), gaps
    # a probe is expires=0: never a binding, never a registration
    assert not b.has_binding('alice')
    assert b.registers('alice', t0) == []
    acc = tier_account(bs.status(), 1)
    assert acc['state'] == 'alive' and acc['answer'] == '200'
    print('probe gaps: %s' % ['%.2f' % g for g in gaps])


def test_r7_straight_to_known_alive_skipping_dead(registrars, baresip):
    a, b, c = registrars(3)
    bs = baresip([account_line('alice', a, prio=0, fbregint=2),
                  account_line('alice', b, prio=1, fbregint=2),
                  account_line('alice', c, prio=2, fbregint=2)], FAST)
    assert wait_until(lambda: bound([a, b, c]) == [0], 5)

    b.set_reply(503)
    assert wait_until(lambda: tier_state(bs, 1) == 'dead', 8)
    t0 = time.time()
    a.set_reply(503)
    mv = bs.wait_move(2, REFRESH, t0)
    assert mv and mv[-1]['from'] == '0'
    assert wait_until(lambda: c.has_binding('alice'), 5)
    # p+1 was never tried
    assert b.registers('alice', t0) == []
    assert [m['to'] for m in bs.moves(t0)] == ['2']
    assert bs.current_aor() == aor('alice', c)


def test_r8_failback_worst_to_best_and_left_tier_probed(registrars,
                                                         baresip):
    a, b, c = registrars(3)
    bs = baresip([account_line('alice', a, prio=0, fbregint=2),
                  account_line('alice', b, prio=1, fbregint=2),
                  account_line('alice', c, prio=2, fbregint=2)],
                 ['serreg_probe_timeout 2', 'serreg_failback_hold 2'])
    assert wait_until(lambda: bound([a, b, c]) == [0], 5)

    a.set_reply(503)
    b.set_reply(503)
    assert bs.wait_move(2, REFRESH)
    assert wait_until(lambda: c.has_binding('alice'), 5)

    # tier 0 comes back: from the worst tier straight to the best,
    # after 2 good probes (hold), while tier 1 is still down
    t0 = time.time()
    a.set_reply(None)
    mv = bs.wait_move(0, 15, t0)
    assert mv and mv[-1]['from'] == '2' and mv[-1]['reason'] == 'failback'
    assert len(a.probes('alice', t0)) >= 2
    assert wait_until(lambda: bound([a, b, c]) == [0], 5)
    assert bs.current_aor() == aor('alice', a)

    # the tier that was left is on probes again
    t1 = time.time()
    time.sleep(5)
    assert len(c.probes('alice', t1)) >= 1


def test_r9_probe_4xx_continues_and_retry_after(registrars, baresip):
    a, b, c = registrars(3)
    b.set_reply(403)
    c.set_reply(503, retry_after=8)
    bs = baresip([account_line('alice', a, prio=0),
                  account_line('alice', b, prio=1, fbregint=2),
                  account_line('alice', c, prio=2, fbregint=2)], FAST)
    assert wait_until(lambda: bound([a, b, c]) == [0], 5)
    t0 = time.time()
    time.sleep(17)

    # 403 every time: libre's sipreg would stop; serreg goes on
    nb = len(b.probes('alice', t0))
    assert nb >= 4, nb
    # 503 with Retry-After: 8 postpones the 2 s probe interval
    pc = c.probes('alice', t0)
    gaps = [y.time - x.time for x, y in zip(pc, pc[1:])]
    assert 1 <= len(pc) <= 3 and all(g >= 7.9 for g in gaps), gaps

    # recovery after the 4xx is seen
    b.set_reply(None)
    assert wait_until(lambda: tier_state(bs, 1) == 'alive', 10)


def test_r10_all_down_no_loop_then_first_back(registrars, baresip):
    a, b, c = registrars(3)
    bs = baresip([account_line('alice', a, prio=0, fbregint=2),
                  account_line('alice', b, prio=1, fbregint=2),
                  account_line('alice', c, prio=2, fbregint=2)], FAST)
    assert wait_until(lambda: bound([a, b, c]) == [0], 5)

    for r in (b, c):
        r.set_reply(503)
    time.sleep(3)
    t0 = time.time()
    a.set_reply(503)
    assert bs.wait_move('none', REFRESH, t0)
    t1 = time.time()
    time.sleep(12)
    regs = sum(len(r.registers('alice', t1)) for r in (a, b, c))
    probes = [len(r.probes('alice', t1)) for r in (a, b, c)]
    # known-dead tiers are not registered, probes only every 2 s
    assert regs == 0, regs
    assert all(p <= 8 for p in probes), probes

    t2 = time.time()
    c.set_reply(None)
    mv = bs.wait_move(2, 6, t2)
    assert mv and mv[-1]['reason'] == 'registrar_alive'
    assert wait_until(lambda: c.has_binding('alice'), 5)
    print('all down, alive again -> registered in %.1f s'
          % (mv[-1]['_time'] - t2))


def test_r8_flapping_registrar_held_down(registrars, baresip):
    """Upstream #1660: a registrar that answers 200 and 503 in turn is
    not moved back to; once it answers steadily, failback follows after
    serreg_failback_hold good probes in a row."""
    a, b = registrars(2)
    bs = baresip([account_line('alice', a, prio=0, fbregint=2),
                  account_line('alice', b, prio=1, fbregint=2)],
                 ['serreg_probe_timeout 2', 'serreg_failback_hold 3'])
    assert wait_until(lambda: bound([a, b]) == [0], 5)
    a.set_reply(503)
    assert bs.wait_move(1, REFRESH)

    # flap: the answer changes after every probe (at most 12 of them)
    t0 = time.time()
    seen, up = 0, False
    for _ in range(12):
        n = seen
        assert wait_until(lambda: len(a.probes('alice', t0)) > n, 5)
        seen = len(a.probes('alice', t0))
        up = not up
        a.set_reply(None if up else 503)
    assert bs.moves(t0) == [], bs.moves(t0)
    assert a.registers('alice', t0) == []
    answers = [p.final for p in a.probes('alice', t0)]
    assert answers.count(200) >= 4, answers
    assert max_run(answers, 200) < 3, answers

    # steady again: back after three good probes in a row
    t1 = time.time()
    a.set_reply(None)
    mv = bs.wait_move(0, 15, t1)
    assert mv and mv[-1]['reason'] == 'failback'
    answers = [p.final for p in a.probes('alice', t0)
               if p.time < mv[-1]['_time']]
    assert answers[-3:] == [200] * 3, answers
    assert wait_until(lambda: bound([a, b]) == [0], 5)


def max_run(seq, value):
    """Length of the longest run of value in seq."""
    best = run = 0
    for x in seq:
        run = run + 1 if x == value else 0
        best = max(best, run)
    return best
