"""Concurrent registration (issue 19): `serreg_concurrent 1`.

The tier in use is baresip's current UA; the next live tier below is
registered too, the hot standby.  The registrars are the truth: the
hot standby's registrar holds the binding before, during and after a
fault of the working registrar, an INVITE sent through it reaches
baresip at each of those moments, and a failback leaves exactly the
working and the hot standby tiers bound, for a full refresh interval.
"""

import time

import rig
from rig import account_line, aor, wait_until
from test_serial import FAST, REFRESH, bound, tier_account

AUTH_MODES = ('auth', 'noauth')

CONCURRENT = FAST + ['serreg_concurrent 1', 'serreg_check_interval 4',
                     'serreg_failback_spread 0'] + rig.CALLEE_CONFIG


def reaches(via, bs, what):
    """An INVITE to alice through registrar via reaches baresip."""
    res = rig.call(via, 'alice', bs, timeout=8)
    assert res.event is not None, '%s: no call at baresip: %s' % (
        what, res.log[-1500:])
    return res.seconds


def hot_events(bs, since=0.0):
    """serreg's hot_standby events as (from, to)."""
    return [(e['from'], e['to'])
            for e in bs.serreg_events('hot_standby', since)]


def three_tiers(registrars, baresip, transport='udp'):
    regs = registrars(3)
    bs = baresip([account_line('alice', r, prio=i, fbregint=2,
                               transport=transport)
                  for i, r in enumerate(regs)], CONCURRENT)
    assert wait_until(lambda: bound(regs) == [0, 1], 8), bound(regs)
    return regs, bs


def held_for(regs, want, seconds):
    """The bound registrars stay `want` for seconds (sampled); the
    samples that differ, as (time, bound)."""
    bad = []
    end = time.time() + seconds
    for _ in range(int(seconds / 0.5) + 2):
        if time.time() >= end:
            break
        got = bound(regs)
        if got != want:
            bad.append((round(time.time(), 1), got))
        time.sleep(0.5)
    return bad


def test_start_registers_the_tier_in_use_and_the_hot_standby(
        registrars, baresip):
    """At start tier 0 is in use and tier 1 is the hot standby: both
    registrars hold the binding for a full refresh interval, tier 2's
    does not; status, JSON, log line and event say which tier is the
    hot standby; an INVITE through either registrar reaches baresip."""
    regs, bs = three_tiers(registrars, baresip)
    a, b, c = regs

    assert held_for(regs, [0, 1], REFRESH) == []
    st = bs.status()
    assert (st['current'], st['hot']) == (0, 1), st
    assert tier_account(st, 0)['role'] == 'current'
    assert tier_account(st, 1)['role'] == 'hot'
    assert tier_account(st, 1)['state'] == 'registered'
    assert tier_account(st, 2)['role'] == 'standby'
    assert ('none', '1') in hot_events(bs)
    assert 'serreg: hot standby tier none -> 1' in bs.log()
    assert 'hot standby tier 1' in bs.command('serreg')['data']
    assert c.registers('alice') == []
    # (1.1.0 dials through the first registered UA: tier 0's, listed
    # first)
    assert bs.current_aor() == aor('alice', a)

    reaches(a, bs, 'through the working registrar')
    reaches(b, bs, 'through the hot standby')


def test_frozen_working_registrar_hot_standby_reaches_at_every_moment(
        registrars, baresip):
    """The working registrar freezes (UDP, silent): before, during
    (undetected) and right after the fault an INVITE through the hot
    standby's registrar reaches baresip; the move needs no REGISTER to
    it; afterwards tier 1 is in use and tier 2 the hot standby, bound
    for a full refresh interval.  The thawed primary fails back: tiers
    0 and 1 bound, tier 2 released, for a full refresh interval."""
    regs, bs = three_tiers(registrars, baresip)
    a, b, c = regs
    reaches(b, bs, 'before the fault')

    t_fault = time.time()
    a.freeze()
    reaches(b, bs, 'during the fault, undetected')
    mv = bs.wait_move(1, 4 + 2 + 2 + 5, t_fault)
    assert mv and mv[-1]['from'] == '0', bs.moves(t_fault)
    t_move = mv[-1]['_time']
    reaches(b, bs, 'right after the move')

    # the move itself sent no REGISTER to the hot standby: its
    # registrar saw only refreshes (every 9 s) since the fault
    regs_b = [r for r in b.registers('alice', t_fault)
              if r.time <= t_move and not r.retry]
    assert len(regs_b) <= 1, [(r.time - t_fault, r.expires)
                              for r in regs_b]
    assert wait_until(lambda: c.has_binding('alice'), 5)
    assert ('1', '2') in hot_events(bs, t_fault) or \
        ('none', '2') in hot_events(bs, t_fault), hot_events(bs)
    st = bs.status()
    assert (st['current'], st['hot']) == (1, 2), st
    # (the frozen registrar keeps its table: only b and c are asked)
    assert held_for([b, c], [0, 1], REFRESH) == []
    reaches(c, bs, 'through the new hot standby')

    # failback
    t_back = time.time()
    a.thaw()
    mv = bs.wait_move(0, 30, t_back)
    assert mv and mv[-1]['reason'] == 'failback', bs.moves(t_back)
    assert wait_until(lambda: bound(regs) == [0, 1], 10), bound(regs)
    assert held_for(regs, [0, 1], REFRESH) == []
    st = bs.status()
    assert (st['current'], st['hot']) == (0, 1), st
    reaches(a, bs, 'after the failback, working')
    reaches(b, bs, 'after the failback, hot standby')


def test_killed_tcp_working_registrar_hot_standby_in_use_at_once(
        registrars, baresip):
    """TCP: the working registrar dies (its connection closes): tier 1
    is in use at once and an INVITE through it reaches baresip; tier 2
    becomes the hot standby."""
    regs, bs = three_tiers(registrars, baresip, transport='tcp')
    a, b, c = regs

    t_fault = time.time()
    a.stop()
    mv = bs.wait_move(1, 8, t_fault)
    assert mv and mv[-1]['from'] == '0', bs.moves(t_fault)
    assert mv[-1]['_time'] - t_fault < 3, mv
    reaches(b, bs, 'right after the move')
    assert wait_until(lambda: c.has_binding('alice'), 5)
    assert held_for([b, c], [0, 1], REFRESH) == []


def test_hot_standby_fails_next_tier_takes_its_place(registrars,
                                                     baresip):
    """The hot standby's registrar answers 503 to its refresh: no move,
    tier 2 becomes the hot standby and holds the binding; tier 1's
    binding is gone (its refresh failed)."""
    regs, bs = three_tiers(registrars, baresip)
    a, b, c = regs

    t_fault = time.time()
    b.set_reply(503, options=False)
    assert wait_until(lambda: bs.status()['hot'] == 2, REFRESH + 5), \
        bs.status()
    assert [m for m in bs.moves(t_fault)] == []
    assert wait_until(lambda: bound(regs) == [0, 2], 10), bound(regs)
    st = bs.status()
    assert tier_account(st, 1)['role'] == 'standby'
    assert tier_account(st, 1)['state'] == 'dead'
    reaches(c, bs, 'through the new hot standby')
