"""Issue 9 ("one brain"): the bugs where the glue decides, against the
real baresip and kamailio.

Each test asserts on the registrars' truth (kamailio's location table
and its request log) as well as on baresip's view:

- bug 0: a failback keeps the binding it made for a full refresh
  interval (no stale un-REGISTER of the tier's departure deletes it),
  and a call to the AoR reaches baresip through the registrar;
- bug 1: when the current UA fails inside a tier that still works,
  another registered account of that tier becomes baresip's current UA;
- bug 2: parking a tier left without failure keeps the state of an
  account whose REGISTER failed (dead, not alive);
- bug 3: the TLS gate belongs to the moment a tier is chosen, not to the
  refreshes of the tier in use.
"""

import time

import rig
from rig import (TestCA, account_line, aor, binding_gaps, call,
                 wait_until)
from test_serial import REFRESH
from test_tls import tier_account_of, tls_aor, tls_line

# every test against registrars that challenge REGISTER and that do not
AUTH_MODES = ('auth', 'noauth')

TIMER_F = 32        # [s] a UDP non-INVITE transaction's lifetime (64*T1)
REPAIR = 3          # [s] for a repair REGISTER after such a transaction


# ---------------------------------------------------------------------
# bug 0: a failback loses the binding it just made
# ---------------------------------------------------------------------

def test_bug0_failback_keeps_its_binding_for_a_refresh_interval(
        registrars, baresip, tmp_path):
    """Cisco mode over UDP, regint 30, no check: the primary is killed,
    its refresh times out (Timer F), serreg moves to tier 1; the primary
    is back 5 s later and serreg fails back.  No request of the tier's
    departure (the un-REGISTER the dead primary never answered, still
    retransmitted inside its 32 s transaction) may delete the binding
    of the failback: the primary holds it for a whole refresh interval,
    and a call to the AoR reaches baresip through it.

    Accepted: the failback waits until that transaction is over, or no
    such un-REGISTER is sent, or the binding it deleted is repaired (a
    new registration, new Call-ID) right after the transaction's end;
    then the binding holds for a refresh interval.  Not accepted: any
    other gap, such as the one today, closed only by the next refresh
    of the failback's own registration (27 s later)."""
    regint = 30
    a, b = registrars(2)
    bs = baresip([account_line('alice', a, prio=0, fbregint=5,
                               regint=regint),
                  account_line('alice', b, prio=1, fbregint=5,
                               regint=regint)],
                 ['serreg_failback_hold 1', 'module g711.so'])
    assert wait_until(lambda: a.has_binding('alice'), 5)
    assert not b.has_binding('alice')

    # the primary dies; its refresh (at 90 % of 30 s) times out 32 s on
    t_kill = time.time()
    a.stop()
    mv = bs.wait_move(1, regint + TIMER_F + 10, t_kill)
    assert mv and mv[-1]['from'] == '0', bs.moves(t_kill)
    t_left = mv[-1]['_time']
    assert wait_until(lambda: b.has_binding('alice'), 5)

    # back 5 s after the move; failback (the fixed code may wait for the
    # end of a stale transaction before it moves)
    time.sleep(max(0.0, t_left + 5 - time.time()))
    a.start()
    t_back = time.time()
    mv = bs.wait_move(0, TIMER_F + 30, t_back)
    assert mv and mv[-1]['reason'] == 'failback', bs.moves(t_left)
    t_fb = mv[-1]['_time']
    # a request of the departure (sent at the move) is over Timer F
    # after it; a registration it would undo may wait for that, and a
    # binding it deleted may be repaired right after that
    repair_by = t_left + TIMER_F + REPAIR
    assert wait_until(lambda: a.has_binding('alice'),
                      max(5, repair_by - time.time())), \
        'no binding at the primary %.0f s after the failback' % (
            time.time() - t_fb)
    t_bound = time.time()
    fb_callid = [r for r in a.registers('alice', t_back)
                 if r.final == 200][0].callid

    gaps = binding_gaps(a, 'alice', max(t_bound, repair_by) + regint + 2)

    def repaired(gap):
        start, end = gap
        if end is None or end > repair_by:
            return False
        new = [r for r in a.registers('alice', start)
               if r.final == 200 and r.time <= end]
        return bool(new) and new[0].callid != fb_callid

    lost = [g for g in gaps if not repaired(g)]
    rel = lambda t: None if t is None else round(t - t_fb, 1)  # noqa
    unregs = [(rel(r.time), r.callid[:8], r.answer)
              for r in a.requests('alice', 'REGISTER', t_back)
              if r.expires == 0]
    regs = [(rel(r.time), r.callid[:8], r.answer)
            for r in a.registers('alice', t_back)]
    assert lost == [], (
        'the primary lost the binding of the failback: gaps %s [s after '
        'the failback; repair allowed until %s]; expires=0 REGISTERs it '
        'received since its restart (t, Call-ID, answer): %s; '
        'REGISTERs: %s' % ([[rel(x), rel(y)] for x, y in lost],
                           rel(repair_by), unregs, regs))
    assert not b.has_binding('alice')
    assert bs.current_aor() == aor('alice', a)

    # a call to the AoR through the primary reaches baresip
    t_call = time.time()
    res = call(a, 'alice', bs, timeout=10, rundir=str(tmp_path))
    ev = res.event
    assert ev is not None, 'no incoming call at baresip: %s' % (
        [x.method for x in a.requests(since=t_call)],)
    assert ev['accountaor'] == aor('alice', a), ev
    assert res.rc == 0, 'sipp exit status %s:\n%s' % (res.rc,
                                                       res.log[-2000:])
    print('failback %.1f s after the restart; binding held %.0f s'
          % (t_fb - t_back, time.time() - t_bound))


# ---------------------------------------------------------------------
# bug 1: the current UA fails inside a tier that still works
# ---------------------------------------------------------------------

def test_bug1_current_ua_moves_to_a_registered_account_of_the_tier(
        registrars, baresip):
    """Tier 0 has two accounts (alice at A, bob at B), tier 1 one (carol
    at C).  The registrar of baresip's current UA answers 503 to its
    refresh: the tier still works through the other account, so that
    one becomes baresip's current UA, without a move."""
    a, b, c = registrars(3)
    t0 = time.time()
    bs = baresip([account_line('alice', a, prio=0),
                  account_line('bob', b, prio=0),
                  account_line('carol', c, prio=1)],
                 ['serreg_probe_timeout 2', 'serreg_failback_hold 1'])
    assert wait_until(lambda: a.has_binding('alice')
                      and b.has_binding('bob'), 5)
    regs = {aor('alice', a): (a, 'alice'), aor('bob', b): (b, 'bob')}
    cur = bs.current_aor()
    assert cur in regs, cur
    other = [x for x in regs if x != cur][0]
    failing, user = regs[cur]
    kept, kept_user = regs[other]

    # the current UA's refresh (at 90 % of 10 s) is answered 503
    t_fault = time.time()
    failing.set_reply(503, options=False)
    ev = bs.wait_event(lambda e: e.get('type') == 'REGISTER_FAIL'
                       and e.get('accountaor') == cur, REFRESH, t_fault)
    assert ev, bs.events(since=t_fault)
    # (kamailio logs its answer just after sending it: poll)
    assert wait_until(lambda: [r.final for r in failing.registers(
        user, t_fault)][:1] == [503], 2), failing.registers(user, t_fault)

    # registrar truth: the tier still works, through the other account
    assert kept.has_binding(kept_user)
    assert not c.has_binding('carol')
    assert c.registers('carol', t0) == []
    assert [m for m in bs.moves(t0) if m['reason'] != 'start'] == []
    assert bs.status()['current'] == 0
    # ...and baresip's current UA is that account, not the failed one
    # (baresip 1.1.0: no current UA in the core, and a dial takes the
    # first UA whose sipreg had a 2xx, a failed refresh included; manual
    # §13, Debian 13)
    if rig.BARESIP_VERSION == '1.0.0':
        assert wait_until(lambda: bs.current_aor() == other, 2), (
            'current UA after %s failed: %s (expected %s, still '
            'registered)' % (cur, bs.current_aor(), other))
    assert tier_account_of(bs, cur)['state'] != 'registered'
    assert tier_account_of(bs, other)['state'] == 'registered'
    assert kept.has_binding(kept_user)


# ---------------------------------------------------------------------
# bug 2: parking a tier left without failure marks a failed account alive
# ---------------------------------------------------------------------

def test_bug2_parked_account_keeps_the_state_of_its_last_answer(
        registrars, baresip):
    """Cisco mode.  Tier 1 has two accounts: alice at B (works) and
    alice at C, whose registrar answers 503 to every REGISTER.  Tier 0
    fails, tier 1 works through B while C's REGISTER fails; tier 0 comes
    back and serreg fails back, parking tier 1 without failure.  C's
    last answer is a 503: right after the failback it is `dead`, not
    `alive` (its next probe is a minute away: fbregint 60)."""
    a, b, c = registrars(3)
    c.set_reply(503)
    bs = baresip([account_line('alice', a, prio=0, fbregint=2),
                  account_line('alice', b, prio=1, fbregint=2),
                  account_line('alice', c, prio=1, fbregint=60)],
                 ['serreg_probe_timeout 2', 'serreg_failback_hold 1'])
    assert wait_until(lambda: a.has_binding('alice'), 5)

    # tier 0 fails at its refresh; tier 1 works through B only
    t_fail = time.time()
    a.set_reply(503)
    mv = bs.wait_move(1, REFRESH, t_fail)
    assert mv and mv[-1]['from'] == '0', bs.moves(t_fail)
    assert wait_until(lambda: b.has_binding('alice'), 5)
    # (its REGISTER may arrive before the move event does)
    # (and kamailio logs its answer just after sending it: poll)
    assert wait_until(lambda: [r.final for r in c.registers('alice',
                                                          t_fail)]
                      == [503], 5), c.registers('alice', t_fail)
    assert not c.has_binding('alice')
    assert wait_until(lambda: tier_account_of(bs, aor('alice', c))
                      ['state'] == 'failed', 3)

    # tier 0 is back: failback, tier 1 parked without failure
    t_back = time.time()
    a.set_reply(None)
    mv = bs.wait_move(0, 10, t_back)
    assert mv and mv[-1]['reason'] == 'failback', bs.moves(t_back)
    acc = tier_account_of(bs, aor('alice', c))
    t_read = time.time()
    # registrar truth: every answer C gave since is a 503
    # (a request still in flight has no answer yet)
    assert {r.final for r in c.requests('alice', since=t_fail)
            if r.final is not None} == {503}
    assert acc['answer'] == '503', acc
    assert acc['state'] == 'dead', (
        '%s right after the failback (%.1f s): state %s with last '
        'answer %s' % (acc['aor'], t_read - mv[-1]['_time'],
                       acc['state'], acc['answer']))
    assert wait_until(lambda: a.has_binding('alice'), 5)
    assert wait_until(lambda: not b.has_binding('alice'), 5)
    assert tier_account_of(bs, aor('alice', b))['state'] == 'alive'


# ---------------------------------------------------------------------
# bug 3: the TLS gate belongs to the moment a tier is chosen
# ---------------------------------------------------------------------

def test_bug3_tls_refreshes_of_the_tier_in_use_pass_no_gate(
        registrars, baresip, tmp_path):
    """A TLS account of the tier in use is verified once, when its tier
    is chosen (one OPTIONS, the TLS check, then the flow request that
    finds its connection).  Its refreshes (regint 10: three in 28 s)
    send no OPTIONS and no expires=0 REGISTER with a new Call-ID: one
    Call-ID, CSeq going up.

    baresip 1.0.0 re-registers a UA of the tier in use (ua_register,
    its REGISTERING event) only on a network change (a new default
    source address, checked every 60 s), which a loopback test cannot
    cause; the refreshes are what is tested here."""
    ca = TestCA(str(tmp_path / 'ca'))
    a, = registrars(1, tls=ca.issue('a'))
    u, = registrars(1)
    bs = baresip([tls_line('alice', a, prio=0, regint=10),
                  account_line('alice', u, prio=1)],
                 ['serreg_probe_timeout 2', 'serreg_failback_hold 1',
                  'sip_cafile ' + ca.cert])
    assert wait_until(lambda: a.has_binding('alice'), 10)
    assert bs.current_aor() == tls_aor('alice', a)
    time.sleep(1)       # the flow request after the first REGISTER_OK
    t_reg = time.time()
    first = a.registers('alice')[-1]
    options = len(a.requests('alice', 'OPTIONS'))
    assert options <= 2, a.requests('alice', 'OPTIONS')

    # three refreshes (at 90 % of 10 s)
    assert wait_until(lambda: len(bs.events('REGISTER_OK',
                                            tls_aor('alice', a), t_reg))
                      >= 3, 30)
    reqs = a.requests('alice', since=t_reg)
    assert [r for r in reqs if r.method == 'OPTIONS'] == [], reqs
    assert [r for r in reqs if r.method == 'REGISTER'
            and (r.expires == 0 or r.callid != first.callid)] == [], reqs
    cseqs = [r.cseq for r in reqs if r.method == 'REGISTER']
    assert cseqs == sorted(cseqs) and len(cseqs) >= 3, reqs
    assert len(a.requests('alice', 'OPTIONS')) == options
    assert a.has_binding('alice') and not u.has_binding('alice')
    assert bs.status()['current'] == 0
