"""Reachable after every move (issue 10): the point of registering is to
receive calls.

After a failover, a failback and a flow recovery, an INVITE sent by sipp
to the AoR through the registrar that now holds the binding reaches the
real baresip (kamailio's lookup + t_relay), and one sent through the
registrar that was left finds no binding there (404).  A call in
progress when its tier fails is not torn down by serreg.
"""

import time

import rig
from rig import account_line, wait_until
from test_liveness import callee  # noqa: F401  (fixture)

# every test against registrars that challenge REGISTER and that do not
AUTH_MODES = ('auth', 'noauth')

CFG = ['serreg_probe_timeout 2', 'serreg_failback_hold 1',
       'serreg_check_interval 2'] + rig.CALLEE_CONFIG


def reaches(reg, bs, timeout=10):
    """A call through reg reaches baresip; the CallResult."""
    res = rig.call(reg, 'alice', bs, timeout=timeout)
    assert res.event is not None and res.rc == 0, (
        res.rc, res.log[-1500:], bs.log()[-1500:])
    return res


def not_there(reg):
    """A call through reg finds no binding: 404, nothing at baresip."""
    res = rig.call(reg, 'alice', timeout=5)
    assert res.rc == 0, res.log[-1500:]


def test_reachable_after_failover_and_failback(registrars, baresip):
    a, b = registrars(2)
    bs = baresip([account_line('alice', a, prio=0, fbregint=1),
                  account_line('alice', b, prio=1, fbregint=1)], CFG)
    assert wait_until(lambda: a.has_binding('alice'), 5)
    reaches(a, bs)
    not_there(b)

    # failover: tier 0 refuses
    t0 = time.time()
    a.set_reply(503)
    assert bs.wait_move(1, 10, t0), bs.log()[-3000:]
    assert wait_until(lambda: b.has_binding('alice'), 5)
    res = reaches(b, bs)
    assert res.event['accountaor'] == rig.aor('alice', b)

    # failback: tier 0 answers again
    t1 = time.time()
    a.set_reply(None)
    assert bs.wait_move(0, 15, t1), bs.log()[-3000:]
    assert wait_until(lambda: a.has_binding('alice'), 5)
    assert wait_until(lambda: not b.has_binding('alice'), 5)
    res = reaches(a, bs)
    assert res.event['accountaor'] == rig.aor('alice', a)
    not_there(b)


def test_reachable_after_flow_recovery(registrars, baresip, tmp_path):
    """TCP: the registrar loses the binding and drops the connection
    (as after a restart behind a load balancer); serreg's flow recovery
    brings the binding back at once, and a call reaches baresip."""
    a, b = registrars(2)
    bs = baresip([account_line('alice', a, prio=0, transport='tcp',
                               regint=600),
                  account_line('alice', b, prio=1, transport='tcp',
                               regint=600)], ['serreg_probe_timeout 2'] +
                 rig.CALLEE_CONFIG)
    assert wait_until(lambda: a.has_binding('alice'), 5)
    # the flow request found the connection: it is watched
    assert wait_until(lambda: bs.status()['mem']['watches'] == 1, 5)
    a.drop_bindings('alice')
    t0 = time.time()
    assert rig.cut_tcp(a.port) >= 1
    assert wait_until(lambda: a.has_binding('alice'), 5), bs.log()[-3000:]
    assert bs.moves(t0) == []
    reaches(a, bs)
    not_there(b)


def test_call_in_progress_survives_its_tier_failing(registrars, baresip,
                                                   callee):  # noqa: F811
    """A call established on the tier in use; that tier's registrar
    fails: serreg moves to tier 1 and the call goes on until it is hung
    up (R34: serreg never ends a call)."""
    a, b = registrars(2)
    bs = baresip([account_line('alice', a, prio=0, fbregint=1),
                  account_line('alice', b, prio=1, fbregint=1)], CFG)
    assert wait_until(lambda: a.has_binding('alice'), 5)
    t_call = time.time()
    bs.command('dial', callee.uri)
    assert bs.wait_event(lambda e: e.get('type') == 'CALL_ESTABLISHED',
                         10, t_call), bs.log()[-3000:]

    t0 = time.time()
    a.set_reply(503)
    assert bs.wait_move(1, 10, t0), bs.log()[-3000:]
    assert wait_until(lambda: b.has_binding('alice'), 5)
    time.sleep(2)
    assert not bs.events('CALL_CLOSED', since=t_call), bs.events()
    # the UA of the call stays baresip's current UA while the call lasts
    # (hangup, hold... act on the current UA's calls), then tier 1's
    # (baresip 1.1.0: the menu acts on its current call, whatever the
    # UA; a dial takes the first registered UA)
    if rig.BARESIP_VERSION == '1.0.0':
        assert bs.current_aor() == rig.aor('alice', a)
    bs.command('hangup')
    assert bs.wait_event(lambda e: e.get('type') == 'CALL_CLOSED', 5,
                         t_call), bs.log()[-2000:]
    assert wait_until(lambda: bs.current_aor() == rig.aor('alice', b), 3)
    reaches(b, bs)
