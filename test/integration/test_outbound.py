"""serreg with RFC 5626 outbound: two edge proxies, two flows (issue 10).

The real baresip with serreg, an account registered through two kamailio
edges (outbound + path) to a kamailio registrar in outbound mode, and a
second tier behind it.  Registrar-side truth: the bindings and their
reg-ids; the edges' request logs; calls by sipp reaching baresip.
"""

import os
import re
import time

import rig
from rig import account_line, wait_until
from test_platform import netchange_so  # noqa: F401 (fixture)

# every test against registrars that challenge REGISTER and that do not
AUTH_MODES = ('auth', 'noauth')

CFG = ['serreg_probe_timeout 2'] + rig.CALLEE_CONFIG


def regids(reg):
    return sorted(c.reg_id for c in rig.contacts(reg, 'alice'))


def dials_out_through(bs, reg, edge):
    """An outgoing call from baresip leaves through edge (the registrar
    answers it 404: nobody is called); hung up after."""
    t_dial = time.time()
    bs.command('dial', 'sip:nobody@%s:%d' % (rig.HOST, reg.port))
    assert wait_until(lambda: [r for r in edge.requests(since=t_dial)
                               if r.method == 'INVITE'], 5), (
        edge.log()[-2000:], bs.log()[-2000:])
    bs.command('hangup')


def outbound_ladder(registrars, edges, baresip, config=CFG, module=None):
    """Tier 0: alice through two edges to an outbound registrar; tier 1:
    alice at a plain registrar; module: the path of one more module to
    load (module_app).  (reg, e1, e2, backup, bs)"""
    reg, = registrars(1, template=rig.OUTBOUND_TEMPLATE)
    backup, = registrars(1)
    e1, e2 = edges(reg, 2)
    if module:
        config = list(config) + ['module_app %s'
                                 % os.path.basename(str(module))]
    bs = baresip([rig.outbound_account('alice', reg, (e1, e2),
                                       regint=600, extra='prio=0'),
                  account_line('alice', backup, prio=1, regint=600)],
                 config, uuid=True, start=not module)
    if module:
        os.symlink(str(module), os.path.join(
            bs.moddir, os.path.basename(str(module))))
        bs.start(hold=[reg, backup])
    return reg, e1, e2, backup, bs


def test_outbound_cut_flow_is_recovered_at_once(registrars, edges,
                                               baresip):
    """A flow dies while its edge lives (its TCP connection reset): the
    account stays registered through the other flow, no move; serreg
    recovers the dead flow at once (libre alone retries after 30-60 s),
    both bindings are fresh, and a call reaches baresip."""
    reg, e1, e2, backup, bs = outbound_ladder(registrars, edges, baresip)
    assert wait_until(lambda: regids(reg) == [1, 2], 10), bs.log()[-3000:]

    t_cut = time.time()
    assert rig.cut_tcp(e1.port) == 1
    assert bs.wait_event('REGISTER_FAIL', 5, t_cut), bs.events()
    # recovered: a new REGISTER through edge 1 within a few seconds
    assert wait_until(lambda: e1.registers('alice', t_cut), 5), (
        bs.log()[-3000:])
    assert wait_until(lambda: regids(reg) == [1, 2], 5)
    assert 'registering again on a new connection' in bs.log()
    assert bs.moves(t_cut) == [], bs.moves(t_cut)
    assert not backup.has_binding('alice')
    res = rig.call(reg, 'alice', bs, timeout=10)
    assert res.event is not None and res.rc == 0, res.log[-2000:]
    print('flow recovered %.2f s after the cut'
          % (e1.registers('alice', t_cut)[0].time - t_cut))


def test_outbound_dead_edge_calls_take_the_live_flow(registrars, edges,
                                                     baresip):
    """The first edge is killed: the account stays registered through
    the second flow (no move), new calls from baresip go out through the
    second edge (baresip 1.0.0 would keep using the first, dead one),
    calls to the user reach baresip over the second flow; when the
    first edge is back, its flow is recovered and calls use it again."""
    reg, e1, e2, backup, bs = outbound_ladder(registrars, edges, baresip)
    assert wait_until(lambda: regids(reg) == [1, 2], 10), bs.log()[-3000:]

    t_kill = time.time()
    e1.stop()
    assert wait_until(lambda: 'new calls through' in bs.log(), 5), (
        bs.log()[-3000:])
    time.sleep(1)
    assert bs.moves(t_kill) == []
    assert bs.status()['state'] == 'registered'
    assert not backup.has_binding('alice')

    # an outgoing call goes out through the second edge (the registrar
    # answers it 404: nobody is called)
    dials_out_through(bs, reg, e2)
    # an incoming call reaches baresip over the live flow
    res = rig.call(reg, 'alice', bs, timeout=15)
    assert res.event is not None and res.rc == 0, res.log[-2000:]

    # edge 1 back: recovered (RFC 5626 backoff: the first retry is at
    # once after the failure, the next after 45-90 s; libre's own retry
    # after 30-60 s also brings it back): calls through edge 1 again
    e1.start()
    assert wait_until(lambda: regids(reg) == [1, 2] and
                      'new calls through %s' % e1.outbound_uri('tcp')
                      in bs.log(), 95), (regids(reg), bs.log()[-3000:])


def test_outbound_439_from_every_first_hop(registrars, edges, baresip):
    """Both edges answer 439 First Hop Lacks Outbound Support: serreg
    registers the account again without outbound (RFC 5626 11.6) instead
    of failing the tier; the registrar holds a plain binding and a call
    reaches baresip."""
    reg, = registrars(1, template=rig.OUTBOUND_TEMPLATE)
    backup, = registrars(1)
    e1, e2 = edges(reg, 2)
    for e in (e1, e2):
        e.set_no_outbound()
    t0 = time.time()
    bs = baresip([rig.outbound_account('alice', reg, (e1, e2),
                                       regint=600, extra='prio=0'),
                  account_line('alice', backup, prio=1, regint=600)],
                 CFG, uuid=True)
    assert wait_until(lambda: 'registering without it' in bs.log(), 10), (
        bs.log()[-3000:])
    # without outbound: one REGISTER through the first outbound proxy,
    # which relays a plain REGISTER
    assert wait_until(lambda: reg.has_binding('alice'), 10), (
        rig.contacts(reg, 'alice'), bs.log()[-3000:])
    cs = rig.contacts(reg, 'alice')
    assert all(not c.reg_id for c in cs), cs
    assert [m for m in bs.moves(t0) if m['reason'] != 'start'] == []
    assert not backup.has_binding('alice')
    res = rig.call(reg, 'alice', bs, timeout=10)
    assert res.event is not None and res.rc == 0, res.log[-2000:]


def test_outbound_frozen_edge_with_check_is_no_failure(registrars, edges,
                                                       baresip):
    """With the check on: the first edge freezes; the check through it
    gets no answer, serreg checks through the second flow's edge, which
    answers: no move (the account is registered through that flow), new
    calls go out through the second edge, a call reaches baresip."""
    reg, e1, e2, backup, bs = outbound_ladder(
        registrars, edges, baresip,
        CFG + ['serreg_check_interval 2'])
    assert wait_until(lambda: regids(reg) == [1, 2], 10), bs.log()[-3000:]
    time.sleep(1)

    t_f = time.time()
    e1.freeze()
    # two check periods (2 s each, 2 s timeout) and the rebuild
    assert wait_until(lambda: 'new calls through %s'
                      % e2.outbound_uri('tcp') in bs.log(), 10), (
        bs.log()[-3000:])
    time.sleep(6)
    assert bs.moves(t_f) == [], (bs.moves(t_f), bs.log()[-3000:])
    assert not backup.has_binding('alice')
    assert bs.status()['state'] == 'registered'
    dials_out_through(bs, reg, e2)
    e1.thaw()


def test_outbound_flow_answered_202_counts_as_registered(registrars, edges,
                                                         baresip):
    """Edge 1 answers the REGISTER of flow 1 with 202 Accepted, a 2xx
    like 200 (RFC 3261 10.3: success).  baresip 1.0.0 prints only an
    exact 200 as "OK " in its status; serreg must still count flow 1 as
    registered: no recovery of it (no second REGISTER through edge 1
    before its refresh), no move, flow 2 bound at the registrar."""
    reg, = registrars(1, template=rig.OUTBOUND_TEMPLATE)
    backup, = registrars(1)
    e1, e2 = edges(reg, 2)
    e1.set_register_ok(202)
    t0 = time.time()
    bs = baresip([rig.outbound_account('alice', reg, (e1, e2),
                                       regint=600, extra='prio=0'),
                  account_line('alice', backup, prio=1, regint=600)],
                 CFG, uuid=True)
    assert wait_until(lambda: regids(reg) == [2], 10), bs.log()[-3000:]
    assert wait_until(lambda: [r for r in e1.registers('alice', t0)
                               if r.answer == 202], 5), e1.requests()
    assert wait_until(lambda: bs.status()['state'] == 'registered', 5)

    # flow recoveries are 10 s apart at least (SR_RECOVER_GAP): 25 s
    # see two if flow 1 counted as failed
    time.sleep(25)
    assert len(e1.registers('alice', t0)) == 1, e1.registers('alice', t0)
    assert 'registering again on a new connection' not in bs.log(), \
        bs.log()[-3000:]
    assert bs.moves(t0) == [m for m in bs.moves(t0)
                            if m['reason'] == 'start'], bs.moves(t0)
    assert regids(reg) == [2]
    assert not backup.has_binding('alice')
    assert bs.status()['state'] == 'registered'


def reg_id_of(r):
    """The reg-id of a REGISTER's Contact (0 if none)."""
    m = re.search(r';reg-id=(\d+)', r.contact)
    return int(m.group(1)) if m else 0


def test_outbound_net_change_while_route_swapped(registrars, edges,
                                                 baresip, netchange_so):
    """The first edge is dead, so new calls go through the second (the
    account's first outbound proxy swapped); then a network change:
    baresip builds both flows again from the account's proxies.  Flow 1
    must go through edge 1 again, not through the swapped proxy: edge 2
    carries flow 2 only.  (Glue review, issue 17: with the route left
    swapped, both flows went through edge 2 while the engine counted
    two.)"""
    reg, e1, e2, backup, bs = outbound_ladder(registrars, edges, baresip,
                                              module=netchange_so)
    assert wait_until(lambda: regids(reg) == [1, 2], 10), bs.log()[-3000:]

    e1.stop()
    swapped = 'new calls through %s' % e2.outbound_uri('tcp')
    assert wait_until(lambda: swapped in bs.log(), 5), bs.log()[-3000:]
    n_swapped = bs.log().count(swapped)

    t_nc = time.time()
    assert bs.command('test_netchange')['ok']
    assert wait_until(lambda: e2.registers('alice', t_nc), 5), (
        bs.log()[-3000:])
    time.sleep(3)
    ids = sorted({reg_id_of(r) for r in e2.registers('alice', t_nc)})
    assert ids == [2], (ids, e2.registers('alice', t_nc))
    # (the registrar keeps flow 1's binding of before: edge 1 is gone)
    assert 2 in regids(reg), regids(reg)
    # flow 1 failed again at edge 1: new calls through edge 2 again
    assert wait_until(lambda: bs.log().count(swapped) > n_swapped, 5), (
        bs.log()[-3000:])
    assert bs.moves(t_nc) == [], bs.moves(t_nc)
    assert not backup.has_binding('alice')
    dials_out_through(bs, reg, e2)
    res = rig.call(reg, 'alice', bs, timeout=15)
    assert res.event is not None and res.rc == 0, res.log[-2000:]
