"""The serreg command (R40) and move events (R41) against the truth.

The status printed by `serreg` / `serreg json` is compared with what the
registrars hold, and every move logged by serreg must reach the ctrl_tcp
client as an event.
"""

import re
import time

import pytest

import rig
from rig import account_line, aor, wait_until
from test_serial import FAST, REFRESH, bound, tier_account


def check_truth(bs, regs, user='alice'):
    """Every account's state in `serreg json` matches its registrar."""
    st = bs.status()
    by_aor = {x['aor']: x for x in st['accounts']}
    for r in regs:
        acc = by_aor[aor(user, r)]
        held = r.has_binding(user)
        assert (acc['state'] == 'registered') == held, (acc, held)
        assert (acc['role'] == 'current') == held, (acc, held)
    return st


def check_events(bs):
    """Every move logged by serreg reached the ctrl_tcp client as an
    event (the start move may come before the client connects)."""
    logged = re.findall(r'serreg: tier (\S+) -> (\S+) \(', bs.log())
    events = [(m['from'], m['to']) for m in bs.moves()]
    assert len(events) >= len(logged) - 1, (logged, events)
    assert events == logged[len(logged) - len(events):], (logged, events)


def test_status_serial_matches_registrars(registrars, baresip):
    a, b = registrars(2)
    bs = baresip([account_line('alice', a, prio=0),
                  account_line('alice', b, prio=1)], FAST)
    assert wait_until(lambda: bound([a, b]) == [0], 5)
    st = check_truth(bs, [a, b])
    assert st['state'] == 'registered' and st['current'] == 0
    assert st['last_move']['reason'] == 'start'

    a.set_reply(503)
    assert bs.wait_move(1, REFRESH)
    assert wait_until(lambda: b.has_binding('alice'), 5)
    # a's binding lapses: its un-REGISTER got 503, so it goes when it
    # expires, regint after a's last 200 (the failure may be found by
    # the binding query a second after the start, long before that)
    assert wait_until(lambda: not a.has_binding('alice'),
                      rig.DEFAULT_REGINT + 2)
    st = check_truth(bs, [a, b])
    acc0 = tier_account(st, 0)
    assert acc0['answer'] == '503' and acc0['state'] == 'dead'
    assert st['last_move']['reason'] == 'tier failed'

    text = bs.command('serreg')['data']
    assert 'current tier 1' in text and 'tier failed' in text
    lines = {ln.split()[-1]: ln for ln in text.splitlines()[2:]}
    assert 'registered' in lines[aor('alice', b)]
    assert 'standby' in lines[aor('alice', a)]
    assert '503' in lines[aor('alice', a)]
    check_events(bs)


def test_status_cisco_matches_registrars(registrars, baresip):
    a, b, c = registrars(3)
    bs = baresip([account_line('alice', a, prio=0, fbregint=2),
                  account_line('alice', b, prio=1, fbregint=2),
                  account_line('alice', c, prio=2, fbregint=2)], FAST)
    assert wait_until(lambda: bound([a, b, c]) == [0], 5)
    b.set_reply(403)
    time.sleep(5)
    st = check_truth(bs, [a, b, c])
    states = {t: tier_account(st, t) for t in (1, 2)}
    assert states[1]['state'] == 'dead' and states[1]['answer'] == '403'
    assert states[2]['state'] == 'alive' and states[2]['answer'] == '200'
    assert states[2]['fbregint'] == 2 and states[2]['answer_age'] <= 3

    a.set_reply(503)
    assert bs.wait_move(2, REFRESH)
    assert wait_until(lambda: c.has_binding('alice'), 5)
    # (a's un-REGISTER got 503: its binding goes when it expires)
    assert wait_until(lambda: not a.has_binding('alice'),
                      rig.DEFAULT_REGINT + 2)
    check_truth(bs, [a, b, c])
    a.set_reply(None)
    assert bs.wait_move(0, 10, time.time() - 1)
    assert wait_until(lambda: bound([a, b, c]) == [0], 5)
    check_truth(bs, [a, b, c])
    check_events(bs)


def test_status_all_down_shows_backoff(registrars, baresip):
    a, b = registrars(2)
    bs = baresip([account_line('alice', a, prio=0),
                  account_line('alice', b, prio=1)],
                 ['serreg_probe_timeout 2', 'serreg_backoff_max 20'])
    assert wait_until(lambda: bound([a, b]) == [0], 5)
    a.set_reply(503)
    b.set_reply(503)
    assert bs.wait_move('none', REFRESH)
    st = wait_until(lambda: (lambda s: s if s['state'] == 'waiting'
                             else None)(bs.status()), 5)
    assert st, bs.status()
    assert st['current'] == -1 and 1 <= st['backoff'] <= 20
    assert all(x['role'] == 'standby' for x in st['accounts'])
    assert all(x['state'] != 'registered' for x in st['accounts'])
    assert 'next round in' in bs.command('serreg')['data']
    # a's un-REGISTER got a 503 too: its binding lapses at expiry
    assert wait_until(lambda: bound([a, b]) == [], 12)
    check_events(bs)


@pytest.mark.parametrize('key,value,rng', [
    ('serreg_check_interval', 'x', '0..3600'),
    ('serreg_probe_timeout', '0', '1..60'),
    ('serreg_failback_hold', '101', '1..100'),
    ('serreg_backoff_max', '-5', '1..86400'),
    ('serreg_backoff_max', '', '1..86400'),
    ('serreg_concurrent', '2', '0..1'),
])
def test_bad_setting_named_with_range(registrars, baresip, key, value,
                                      rng):
    a, = registrars(1)
    bs = baresip([account_line('alice', a, prio=0)],
                 ['%s %s' % (key, value)])
    assert wait_until(lambda: a.has_binding('alice'), 5)
    line = [x for x in bs.log().splitlines() if key in x]
    assert line and '"%s"' % value in line[0] and rng in line[0], line
    assert 'using default' in line[0]


def test_serreg_events_reach_ctrl_tcp(registrars, baresip):
    """serreg's own events ride on UA_EVENT_MAX on baresip 1.0.0 (it has
    no module event): ctrl_tcp sends them as type "?", class "other",
    with the AoR of the current UA; on 1.1.0 they are module events
    (type "MODULE", "serreg,move,..."), without a UA for a move (1.1.0
    has no current UA).  Each move once; menu.so and ctrl_tcp.so
    (loaded by the rig) take them without effect, and serreg's own
    handler ignores them (the move raised inside the engine's action
    re-enters nothing): baresip keeps working and answers commands."""
    a, b = registrars(2)
    bs = baresip([account_line('alice', a, prio=0),
                  account_line('alice', b, prio=1)], FAST)
    assert wait_until(lambda: bound([a, b]) == [0], 5)
    t0 = time.time()
    a.set_reply(503)
    assert bs.wait_move(1, REFRESH, t0)
    assert wait_until(lambda: b.has_binding('alice'), 5)

    ours = [e for e in bs.events(since=t0) if rig.serreg_event(e)]
    assert ours, bs.events(since=t0)
    for e in ours:
        if rig.BARESIP_VERSION == '1.0.0':
            assert e['type'] == '?' and e['class'] == 'other', e
            assert e.get('accountaor', '').startswith('sip:alice@'), e
        else:
            assert e['type'] == 'MODULE', e
            assert e['param'].startswith('serreg,move,from=0 to=1 '), e
    check_events(bs)
    assert len(bs.moves(t0)) == 1, bs.moves(t0)
    assert bs.command('reginfo')['ok']
    assert bs.status()['current'] == 1
    assert bs.returncode is None
