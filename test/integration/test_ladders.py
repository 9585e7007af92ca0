"""Several ladders in one baresip (issue 12), with real baresip and
kamailio.

Two lines, each with its own primary and backup registrar: ladder
trunk-a is alice at a0 (prio 0) and a1 (prio 1), ladder trunk-b is bob
at b0 and b1.  A fault in one ladder moves that ladder only: the other
keeps its binding, its Call-ID (no new REGISTER, no un-REGISTER) and its
state.  The truth is read at the registrars (bindings, request logs),
in baresip's reginfo (current UA) and in the move events.
"""

import time

import rig
from rig import account_line, aor, wait_until
from test_serial import FAST, REFRESH

# every test against registrars that challenge REGISTER and that do not
AUTH_MODES = ('auth', 'noauth')

FB = 2          # [s] fbregint of every account: failback is probed


def ladder_line(user, registrar, prio, ladder, **kw):
    """An accounts line of user at registrar in ladder."""
    kw.setdefault('fbregint', FB)
    return account_line(user, registrar, prio=prio,
                        extra='ladder=%s' % ladder, **kw)


def two_ladders(registrars, baresip, config=()):
    """Ladders trunk-a (alice@a0, a1) and trunk-b (bob@b0, b1), each on
    its tier 0; the registrars and baresip."""
    a0, a1, b0, b1 = registrars(4)
    bs = baresip([ladder_line('alice', a0, 0, 'trunk-a'),
                  ladder_line('alice', a1, 1, 'trunk-a'),
                  ladder_line('bob', b0, 0, 'trunk-b'),
                  ladder_line('bob', b1, 1, 'trunk-b')],
                 FAST + list(config))
    assert wait_until(lambda: a0.has_binding('alice')
                      and b0.has_binding('bob'), 5)
    return (a0, a1, b0, b1), bs


def ladder(st, name):
    """The ladder of this name in a `serreg json` status."""
    found = [x for x in st['ladders'] if x['name'] == name]
    assert len(found) == 1, st
    return found[0]


def moves_of(bs, name, since):
    """The move events of ladder name since then."""
    return [m for m in bs.moves(since) if m.get('ladder') == name]


def wait_ladder_move(bs, name, to, timeout, since):
    """Wait for a move of ladder name to tier to; the moves."""
    return wait_until(lambda: [m for m in moves_of(bs, name, since)
                               if m['to'] == str(to)],
                      timeout=timeout, interval=0.1)


def still_registered(reg, user, callid, since):
    """user's binding at reg is still the one of Call-ID callid: every
    REGISTER since then is a refresh of it, and none is an un-REGISTER
    (expires=0)."""
    assert reg.has_binding(user)
    regs = reg.registers(user, since)
    assert all(r.callid == callid for r in regs), (callid, regs)
    assert reg.probes(user, since) == [], reg.probes(user, since)


def callid_of(reg, user):
    """Call-ID of user's last registration at reg."""
    regs = reg.registers(user)
    assert regs, reg
    return regs[-1].callid


def test_fault_in_one_ladder_moves_only_it(registrars, baresip):
    (a0, a1, b0, b1), bs = two_ladders(registrars, baresip)
    st = bs.status()
    assert st['current_ladder'] == 'trunk-a'
    assert [x['name'] for x in st['ladders']] == ['trunk-a', 'trunk-b']
    assert all(x['state'] == 'registered' and x['current'] == 0
               for x in st['ladders']), st
    # the driving ladder: the ladder of the first account
    assert bs.current_aor() == aor('alice', a0)
    bob_callid = callid_of(b0, 'bob')

    # trunk-a's primary fails: trunk-a moves, trunk-b does not
    t0 = time.time()
    a0.set_reply(503)
    mv = wait_ladder_move(bs, 'trunk-a', 1, REFRESH, t0)
    assert mv and mv[-1]['from'] == '0', bs.moves(t0)
    assert wait_until(lambda: a1.has_binding('alice'), 5)
    assert wait_until(lambda: bs.current_aor() == aor('alice', a1), 5)
    time.sleep(2)
    assert moves_of(bs, 'trunk-b', t0) == []
    still_registered(b0, 'bob', bob_callid, t0)
    assert b1.registers('bob', t0) == []
    assert not b1.has_binding('bob')
    b = ladder(bs.status(), 'trunk-b')
    assert b['state'] == 'registered' and b['current'] == 0, b
    assert b['last_move']['reason'] == 'start', b

    # failback of trunk-a; trunk-b still untouched
    t1 = time.time()
    a0.set_reply(None)
    mv = wait_ladder_move(bs, 'trunk-a', 0, 15, t1)
    assert mv and mv[-1]['reason'] == 'failback', bs.moves(t1)
    assert wait_until(lambda: a0.has_binding('alice'), 5)
    assert wait_until(lambda: bs.current_aor() == aor('alice', a0), 5)
    assert moves_of(bs, 'trunk-b', t0) == []
    still_registered(b0, 'bob', bob_callid, t0)

    # the log line names the ladder
    log = bs.log()
    assert 'serreg: ladder trunk-a: tier 0 -> 1 (tier failed' in log, log
    assert 'serreg: ladder trunk-b: tier 0' not in log.split(
        'ladder trunk-a: tier 0 -> 1')[1]


def test_fault_in_other_ladder_keeps_current_ua(registrars, baresip):
    """trunk-b fails over and back on its own; baresip's current UA
    stays the driving ladder's (trunk-a) throughout."""
    (a0, a1, b0, b1), bs = two_ladders(registrars, baresip)
    alice_callid = callid_of(a0, 'alice')

    t0 = time.time()
    b0.set_reply(503)
    mv = wait_ladder_move(bs, 'trunk-b', 1, REFRESH, t0)
    assert mv, bs.moves(t0)
    assert wait_until(lambda: b1.has_binding('bob'), 5)
    assert bs.current_aor() == aor('alice', a0)
    assert moves_of(bs, 'trunk-a', t0) == []
    still_registered(a0, 'alice', alice_callid, t0)
    assert a1.registers('alice', t0) == []

    t1 = time.time()
    b0.set_reply(None)
    mv = wait_ladder_move(bs, 'trunk-b', 0, 15, t1)
    assert mv and mv[-1]['reason'] == 'failback', bs.moves(t1)
    assert wait_until(lambda: b0.has_binding('bob'), 5)
    assert wait_until(lambda: not b1.has_binding('bob'), 12)
    assert bs.current_aor() == aor('alice', a0)
    assert moves_of(bs, 'trunk-a', t0) == []
    still_registered(a0, 'alice', alice_callid, t0)


def test_current_ladder_setting(registrars, baresip):
    """serreg_current_ladder trunk-b: trunk-b drives the current UA, and
    it is a registered account of trunk-b's tier in use.  (baresip 1.1.0
    has no current UA in the core: a dial without a UA takes the first
    registered one, whatever serreg says; the setting is shown, and the
    ladders move as on 1.0.0.)"""
    (a0, a1, b0, b1), bs = two_ladders(
        registrars, baresip, ['serreg_current_ladder trunk-b'])
    drives = rig.BARESIP_VERSION == '1.0.0'
    st = bs.status()
    assert st['current_ladder'] == 'trunk-b'
    assert ladder(st, 'trunk-b')['drives_current'] is True
    assert ladder(st, 'trunk-a')['drives_current'] is False
    if drives:
        assert wait_until(lambda: bs.current_aor() == aor('bob', b0), 5)

    # trunk-a's failover leaves the current UA alone
    t0 = time.time()
    a0.set_reply(503)
    assert wait_ladder_move(bs, 'trunk-a', 1, REFRESH, t0)
    assert wait_until(lambda: a1.has_binding('alice'), 5)
    if drives:
        assert bs.current_aor() == aor('bob', b0)

    # trunk-b's failover moves it
    t1 = time.time()
    b0.set_reply(503)
    assert wait_ladder_move(bs, 'trunk-b', 1, REFRESH, t1)
    assert wait_until(lambda: b1.has_binding('bob'), 5)
    if drives:
        assert wait_until(lambda: bs.current_aor() == aor('bob', b1), 5)

    text = bs.command('serreg')['data']
    assert 'serreg: ladder trunk-a: registered, current tier 1' in text
    assert ('serreg: ladder trunk-b (current UA): registered, current '
            'tier 1') in text, text


def test_uanew_and_uadel_per_ladder(registrars, baresip):
    a0, a1, b0, b1, c0 = registrars(5)
    bs = baresip([ladder_line('alice', a0, 0, 'trunk-a'),
                  ladder_line('bob', b0, 0, 'trunk-b')], FAST)
    assert wait_until(lambda: a0.has_binding('alice')
                      and b0.has_binding('bob'), 5)
    t0 = time.time()

    # a backup into each ladder: standby, probed, no binding
    for user, reg, name in (('alice', a1, 'trunk-a'),
                            ('bob', b1, 'trunk-b')):
        r = bs.command('uanew', ladder_line(user, reg, 1, name))
        assert r['ok'], r
    # (baresip 1.1.0 announces no uanew of a prio > 0 account: serreg
    # finds it within a second, meanwhile the core's own fallback
    # client sends an expires=0 too)
    def standby_listed():
        st = bs.status()
        return all(aor(u, k) in [x['aor'] for x in
                                 ladder(st, n)['accounts']]
                   for n, k, u in (('trunk-a', a1, 'alice'),
                                   ('trunk-b', b1, 'bob')))
    assert wait_until(standby_listed, 5)
    assert wait_until(lambda: len(a1.probes('alice', t0)) >= 1
                      and len(b1.probes('bob', t0)) >= 1, 5)
    assert a1.registers('alice', t0) == [] == b1.registers('bob', t0)
    st = bs.status()
    for name, reg, user in (('trunk-a', a1, 'alice'),
                            ('trunk-b', b1, 'bob')):
        accs = ladder(st, name)['accounts']
        assert [x['aor'] for x in accs if x['tier'] == 1] == \
            [aor(user, reg)], accs

    # a new ladder: it registers at once, on its own
    r = bs.command('uanew', ladder_line('carol', c0, 0, 'trunk-c'))
    assert r['ok'], r
    assert wait_until(lambda: c0.has_binding('carol'), 5)
    assert ladder(bs.status(), 'trunk-c')['state'] == 'registered'
    assert bs.current_aor() == aor('alice', a0)

    # uadel of trunk-b's primary: trunk-b moves to its backup only
    t1 = time.time()
    r = bs.command('uadel', aor('bob', b0))
    assert r['ok'], r
    mv = wait_ladder_move(bs, 'trunk-b', 1, 5, t1)
    assert mv and mv[-1]['reason'] == 'account_removed'
    assert wait_until(lambda: b1.has_binding('bob'), 5)
    assert [m['ladder'] for m in bs.moves(t1)] == ['trunk-b']
    assert a0.has_binding('alice') and c0.has_binding('carol')
    assert a1.registers('alice', t1) == []


def test_default_ladder_and_event_format(registrars, baresip):
    """Accounts without ;ladder= are the ladder "default": shown at the
    top level of `serreg json` and without a name in the text, as with a
    single ladder; its moves keep their log line, the event names it."""
    a, b, c = registrars(3)
    bs = baresip([account_line('alice', a, prio=0),
                  account_line('alice', b, prio=1),
                  ladder_line('carol', c, 0, 'line-2')], FAST)
    assert wait_until(lambda: a.has_binding('alice')
                      and c.has_binding('carol'), 5)
    st = bs.status()
    assert st['ladder'] == 'default' and st['current_ladder'] == 'default'
    assert st['current'] == 0 and len(st['accounts']) == 2
    assert [x['name'] for x in st['ladders']] == ['default', 'line-2']
    assert bs.current_aor() == aor('alice', a)

    t0 = time.time()
    a.set_reply(503)
    mv = bs.wait_move(1, REFRESH, t0)
    assert mv and mv[-1]['ladder'] == 'default', mv
    assert 'serreg: tier 0 -> 1 (tier failed' in bs.log()
    assert moves_of(bs, 'line-2', t0) == []
    text = bs.command('serreg')['data']
    assert 'serreg: ladder default (current UA): registered, current ' \
        'tier 1' in text, text
    assert 'serreg: ladder line-2: registered, current tier 0' in text


def test_bad_ladder_names(registrars, baresip):
    a, b, c = registrars(3)
    bad = {'bob1': 'ladder=a/b', 'bob2': 'ladder=',
           'bob3': 'ladder=%s' % ('x' * 33),
           'bob4': 'ladder=one;ladder=two'}
    lines = [ladder_line('alice', a, 0, 'trunk-a'),
             ladder_line('alice', b, 1, 'trunk-a')]
    for user, prm in bad.items():
        lines.append(account_line(user, c) + ';' + prm)
    bs = baresip(lines, FAST + ['serreg_current_ladder nosuch'])

    assert wait_until(lambda: a.has_binding('alice'), 5)
    log = bs.log()
    for user, prm in bad.items():
        line = [x for x in log.splitlines()
                if aor(user, c) in x and 'serreg' in x]
        assert line, log
        assert 'ladder' in line[0] and 'left out of the ladder' in line[0]
        if user == 'bob4':
            assert 'ladder given twice: "one" and "two"' in line[0]
        else:
            assert "1..32 letters, digits, '-', '_', '.'" in line[0]
        # baresip keeps it as it would without serreg: registered
        assert wait_until(lambda: c.has_binding(user), 5), user
    # an unknown driving ladder: a warning, the default rule
    assert 'serreg_current_ladder nosuch: no account is in that ladder' \
        in log
    st = bs.status()
    assert st['current_ladder'] == 'trunk-a'
    assert [x['name'] for x in st['ladders']] == ['trunk-a']
    assert len(st['accounts']) == 2
    assert bs.current_aor() == aor('alice', a)
