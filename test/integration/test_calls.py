"""Calls that meet a dead tier (issue 19, item 2).

alice registers at a (tier 0) and, as standby, at b (tier 1); the callee
bob is a second baresip (no serreg) registered at both, so a call can
reach him through either registrar.  The callee's side is the truth: its
CALL_INCOMING events say through which registrar each INVITE came, its
CALL_ESTABLISHED/CALL_CLOSED events how many calls are up.

(a) a is frozen and nothing has found it yet (check interval 300 s):
    a call dialled through a rings at bob through b within
    serreg_probe_timeout + 1 s; one call only.
(b) bob refuses the call (486) through a: never placed again.
(c) a is frozen, the call is placed again through b and answered; a is
    thawed, so bob gets the first INVITE late: alice's first session
    CANCELs it or ACKs and BYEs its late 200; at most one call is up.
"""

import time

import pytest

from rig import CALLEE_CONFIG, HOST, account_line, wait_until
from test_serial import bound

PROBE_TIMEOUT = 2
CALLER_CONFIG = ['serreg_probe_timeout %d' % PROBE_TIMEOUT,
                 'serreg_check_interval 300', 'module g711.so']


def bob_uri(reg):
    return 'sip:bob@%s:%d' % (HOST, reg.port)


def two_tiers(registrars, baresip, answer=False, concurrent=False,
              transport='udp'):
    """(a, b, alice's baresip, bob's baresip), everyone bound (alice at
    b too if concurrent: the hot standby)."""
    a, b = registrars(2)
    extra = ';answermode=auto' if answer else ''
    bob = baresip([account_line('bob', a, regint=600, extra=extra),
                   account_line('bob', b, regint=600, extra=extra)],
                  CALLEE_CONFIG, serreg=False)
    bs = baresip([account_line('alice', a, prio=0, fbregint=5,
                               regint=600, transport=transport),
                  account_line('alice', b, prio=1, fbregint=5,
                               regint=600, transport=transport)],
                 CALLER_CONFIG + ['serreg_concurrent %d' % concurrent])
    assert wait_until(lambda: bound([a, b]) == ([0, 1] if concurrent
                                                else [0]), 5)
    assert wait_until(lambda: bound([a, b], 'bob') == [0, 1], 5)
    time.sleep(0.5)
    return a, b, bs, bob


def incoming(bob, since):
    """The registrar port each INVITE bob got came through."""
    return [int(e['accountaor'].rsplit(':', 1)[1])
            for e in bob.events('CALL_INCOMING', since=since)]


def call_ports(bob, since):
    """The registrar ports of the calls bob saw (any call event; with
    answermode=auto baresip raises no CALL_INCOMING), one per Call-ID."""
    seen = {}
    for e in bob.events(since=since):
        if e.get('class') == 'call' and e.get('id'):
            seen.setdefault(e['id'],
                            int(e['accountaor'].rsplit(':', 1)[1]))
    return sorted(seen.values())


def calls_up(b, since):
    """Call-IDs of the calls up at a baresip according to its events
    (established and not closed since)."""
    est = {e['id'] for e in b.events('CALL_ESTABLISHED', since=since)}
    closed = {e['id'] for e in b.events('CALL_CLOSED', since=since)}
    return est - closed


@pytest.mark.parametrize('concurrent,transport',
                         [(False, 'udp'), (True, 'udp'), (False, 'tcp')],
                         ids=['serial', 'concurrent', 'tcp'])
def test_calls_frozen_tier_rings_through_next(registrars, baresip,
                                              concurrent, transport):
    """(a) the call rings at bob through b within probe_timeout + 1 s
    of the dial; bob got one INVITE only; alice has one call.
    Concurrent: through the hot standby, registered already.  TCP: the
    frozen registrar's connection stays up, nothing closes it."""
    a, b, bs, bob = two_tiers(registrars, baresip, concurrent=concurrent,
                              transport=transport)

    a.freeze()
    t_dial = time.time()
    bs.command('dial', bob_uri(a))

    ev = bob.wait_event(lambda e: e.get('type') == 'CALL_INCOMING',
                        PROBE_TIMEOUT + 3, t_dial)
    assert ev, bs.log()[-3000:]
    took = ev['_time'] - t_dial
    inv = [r for r in b.requests(method='INVITE', since=t_dial)
           if r.user == 'alice']
    print('ringing through b %.2f s after the dial (INVITE at b %.2f s)'
          % (took, inv[0].time - t_dial if inv else -1))
    assert took <= PROBE_TIMEOUT + 1, bs.log()[-3000:]
    assert incoming(bob, t_dial) == [b.port]
    assert bs.wait_event(lambda e: e.get('type') == 'CALL_RINGING', 3,
                         t_dial), bs.log()[-3000:]
    assert bs.serreg_events('call', t_dial), bs.log()[-3000:]

    # the frozen tier is left (the check's verdict), one call only
    time.sleep(2)
    assert incoming(bob, t_dial) == [b.port]
    assert len([e for e in bs.events('CALL_RINGING', since=t_dial)]) == 1
    assert [r for r in b.requests(method='INVITE', since=t_dial)
            if not r.retrans and r.user == 'alice']
    a.thaw()


def test_calls_refused_never_placed_again(registrars, baresip):
    """(b) bob answers 486 to the call through a: it is not placed
    again, and no INVITE of alice reaches b."""
    a, b, bs, bob = two_tiers(registrars, baresip)

    t_dial = time.time()
    bs.command('dial', bob_uri(a))
    assert bob.wait_event(lambda e: e.get('type') == 'CALL_INCOMING',
                          5, t_dial), bob.log()[-3000:]
    bob.command('hangup')
    closed = bs.wait_event(lambda e: e.get('type') == 'CALL_CLOSED', 5,
                           t_dial)
    assert closed and closed.get('param', '').startswith('486'), \
        bs.log()[-3000:]

    time.sleep(PROBE_TIMEOUT + 2)
    assert incoming(bob, t_dial) == [a.port]
    assert not [r for r in b.requests(method='INVITE', since=t_dial)
                if r.user == 'alice']
    assert not bs.serreg_events('call', t_dial)
    assert bs.moves(t_dial) == []


def test_calls_not_found_never_placed_again(registrars, baresip):
    """(b') the registrar answers 404 at once (no such user, no
    ringing): the first hop lives, the call is not placed again."""
    a, b, bs, bob = two_tiers(registrars, baresip)

    t_dial = time.time()
    bs.command('dial', 'sip:nobody@%s:%d' % (HOST, a.port))
    closed = bs.wait_event(lambda e: e.get('type') == 'CALL_CLOSED', 5,
                           t_dial)
    assert closed and closed.get('param', '').startswith('404'), \
        bs.log()[-3000:]
    assert not bs.events('CALL_RINGING', since=t_dial)

    time.sleep(PROBE_TIMEOUT + 2)
    assert not [r for r in b.requests(method='INVITE', since=t_dial)
                if r.user == 'alice']
    assert not bs.serreg_events('call', t_dial)
    assert bs.moves(t_dial) == []


def test_calls_late_answer_of_first_invite(registrars, baresip):
    """(c) the call is placed again through b and answered; a thaws and
    bob gets the first INVITE late: alice CANCELs it, or ACKs and BYEs
    its 200; alice never has two calls, bob one at the end."""
    a, b, bs, bob = two_tiers(registrars, baresip, answer=True)

    a.freeze()
    t_dial = time.time()
    bs.command('dial', bob_uri(a))
    assert bs.wait_event(lambda e: e.get('type') == 'CALL_ESTABLISHED',
                         PROBE_TIMEOUT + 4, t_dial), bs.log()[-3000:]
    assert wait_until(lambda: call_ports(bob, t_dial) == [b.port], 2), \
        bob.events(since=t_dial)

    t_thaw = time.time()
    a.thaw()
    # the first INVITE reaches bob late (a relays what it queued)
    assert wait_until(lambda: len(call_ports(bob, t_dial)) == 2, 10), \
        bob.log()[-3000:]
    assert call_ports(bob, t_dial) == sorted([a.port, b.port])
    # alice ended it: a CANCEL before bob's 200, or ACK + BYE after it
    assert wait_until(lambda: [r for r in a.requests(since=t_thaw)
                               if r.user == 'alice' and r.method in
                               ('CANCEL', 'BYE')], 10), a.log()[-3000:]
    time.sleep(2)

    est = bs.events('CALL_ESTABLISHED', since=t_dial)
    assert len(est) == 1, est
    assert not bs.events('CALL_CLOSED', since=t_thaw)
    print('bob: %d established' % len(bob.events('CALL_ESTABLISHED',
                                                 since=t_dial)))
    assert len(calls_up(bob, t_dial)) == 1, bob.log()[-3000:]
    assert len(calls_up(bs, t_dial)) == 1
