"""Self-tests of the rig's field topologies (issue 10), WITHOUT serreg.

Plain baresip 1.0.0 against real servers on 127.0.0.1:

- a DNS server (rig.Dns, dnsmasq) serving SRV/NAPTR/A records of test
  domains, used by baresip through 'dns_server';
- RFC 5626 edge proxies (rig.EdgeProxy, kamailio outbound + path) in
  front of a kamailio registrar in outbound mode
  (rig.OUTBOUND_TEMPLATE);
- the caller (rig.call, sipp) reaching baresip through a registrar.
"""

import time

import rig
from rig import HOST, wait_until

DOMAIN = 'tier0.example'
ALICE = 'sip:alice@' + DOMAIN


def plain(baresip, accounts=(), **kw):
    """A started baresip without serreg."""
    return baresip(accounts, serreg=False, **kw)


def domain_line(user, domain, transport='udp', regint=10):
    """An account line for user at a domain name (no port: RFC 3263)."""
    uri = 'sip:%s@%s' % (user, domain)
    if transport != 'udp':
        uri += ';transport=' + transport
    return '<%s>;auth_pass=%s;regint=%d' % (uri, rig.PASSWORD, regint)


# ---------------------------------------------------------------------
# DNS
# ---------------------------------------------------------------------

def test_dns_records_ttl_and_changes(dns):
    d = dns(ttl=3)
    d.srv(DOMAIN, [('a.' + DOMAIN, 5060, 10, 10),
                   ('b.' + DOMAIN, 5064, 20, 5)], proto='tcp')
    d.naptr(DOMAIN, 10, 10, 'SIP+D2T', '_sip._tcp.' + DOMAIN)
    t0 = time.monotonic()
    d.apply()
    restart = time.monotonic() - t0
    ans = d.query('_sip._tcp.' + DOMAIN, 'SRV')
    assert ans.rcode == 0
    assert sorted(r[2] for r in ans.records) == [
        (10, 10, 5060, 'a.' + DOMAIN), (20, 5, 5064, 'b.' + DOMAIN)]
    assert {r[1] for r in ans.records} == {3}
    ans = d.query('b.' + DOMAIN, 'A')
    assert ans.records == [('A', 3, HOST)]
    ans = d.query(DOMAIN, 'NAPTR')
    assert ans.rcode == 0 and len(ans.records) == 1
    # unknown names of the domain: NXDOMAIN at once, never forwarded
    assert d.query('_sip._udp.' + DOMAIN, 'SRV').rcode == 3
    assert d.query('nothing.invalid', 'A') is not None

    # a change at run time: the set shrinks to b only
    d.srv(DOMAIN, [('b.' + DOMAIN, 5064, 20, 5)], proto='tcp').apply()
    ans = d.query('_sip._tcp.' + DOMAIN, 'SRV')
    assert [r[2] for r in ans.records] == [(20, 5, 5064, 'b.' + DOMAIN)]
    assert ('SRV', '_sip._tcp.' + DOMAIN) in d.queries()
    assert restart < 2.0, restart
    print('dnsmasq restart (apply) %.3f s' % restart)


def test_srv_set_first_target_then_second_when_killed_tcp(
        registrars, baresip, dns):
    """<sip:alice@tier0.example;transport=tcp>, SRV set of two
    registrars (priority 10 and 20): baresip registers through the
    first; the first is killed: the next REGISTER (refresh) goes to the
    second at once (connection refused is a transport error)."""
    r1, r2 = registrars(2)
    d = dns()
    d.server_set(DOMAIN, [r1, r2], proto='tcp')
    d.server_set(DOMAIN, [r1, r2], proto='udp')
    d.apply()
    bs = plain(baresip, [domain_line('alice', DOMAIN, 'tcp', regint=4)],
               config=[d.config_line])
    ok = bs.wait_event('REGISTER_OK', 10)
    assert ok is not None and ok['accountaor'] == ALICE, bs.events()
    assert wait_until(lambda: r1.has_binding('alice'), 5)
    assert not r2.has_binding('alice')
    assert ('SRV', '_sip._tcp.' + DOMAIN) in d.queries()
    assert all(r.proto == 'tcp' for r in r1.registers('alice'))

    t_kill = time.time()
    r1.stop()
    # regint 4: libre refreshes after about 3.6 s
    assert wait_until(lambda: r2.has_binding('alice'), 10), (
        bs.log()[-2000:])
    took = time.time() - t_kill
    first = r2.registers('alice')[0]
    assert first.time - t_kill < 6, first
    assert first.proto == 'tcp'
    print('second SRV target bound %.1f s after the kill' % took)


# ---------------------------------------------------------------------
# RFC 5626 outbound: two edge proxies in front of the registrar
# ---------------------------------------------------------------------

def outbound_setup(registrars, edges, baresip, transport='tcp',
                   regint=60, **kw):
    """A registrar in outbound mode, two edges, a baresip (no serreg)
    with alice registered through both edges; (reg, e1, e2, bs)."""
    reg, = registrars(1, template=rig.OUTBOUND_TEMPLATE)
    e1, e2 = edges(reg, 2)
    bs = plain(baresip, [rig.outbound_account('alice', reg, (e1, e2),
                                              transport, regint)],
               uuid=True, **kw)
    return reg, e1, e2, bs


def flow_order(reg, e1, e2):
    """(first, second): the edges in the order the registrar tries
    alice's flows for a call, the order ul.lookup gives the bindings
    (the order they were first bound: the two REGISTERs race, so either
    flow can be first)."""
    cs = rig.contacts(reg, 'alice')
    first = e1 if ':%d;' % e1.port in cs[0].path else e2
    return first, (e2 if first is e1 else e1)


def test_outbound_two_flows_bound_with_their_paths(registrars, edges,
                                                   baresip):
    reg, e1, e2, bs = outbound_setup(registrars, edges, baresip)
    assert wait_until(lambda: len(rig.contacts(reg, 'alice')) == 2, 10), (
        rig.contacts(reg, 'alice'), bs.log()[-3000:])
    cs = sorted(rig.contacts(reg, 'alice'), key=lambda c: c.reg_id)
    assert [c.reg_id for c in cs] == [1, 2], cs
    assert cs[0].instance and cs[0].instance == cs[1].instance, cs
    assert ':%d;' % e1.port in cs[0].path and ';ob' in cs[0].path, cs
    assert ':%d;' % e2.port in cs[1].path and ';ob' in cs[1].path, cs
    # each REGISTER reached the registrar through its own edge, over TCP
    # from baresip to the edge
    assert [r.proto for r in e1.registers('alice')][-1] == 'tcp'
    assert [r.proto for r in e2.registers('alice')][-1] == 'tcp'
    # the edges added Flow-Timer: baresip sends CRLF keep-alives
    assert bs.command('reginfo')['ok']
    print(cs)


def test_outbound_udp_flows_and_a_call(registrars, edges, baresip):
    """The same over UDP: two bindings with their edges' Paths, and a
    call through the registrar reaches baresip over the flow it tries
    first.  (The UDP keep-alives are STUN binding requests, answered by
    the edges' stun module; not logged.)"""
    reg, e1, e2, bs = outbound_setup(registrars, edges, baresip, 'udp',
                                     config=rig.CALLEE_CONFIG)
    assert wait_until(lambda: len(rig.contacts(reg, 'alice')) == 2, 10)
    cs = sorted(rig.contacts(reg, 'alice'), key=lambda c: c.reg_id)
    assert [c.reg_id for c in cs] == [1, 2]
    assert ':%d;' % e1.port in cs[0].path and ':%d;' % e2.port in cs[1].path
    assert {r.proto for r in e1.registers('alice')} == {'udp'}
    first, second = flow_order(reg, e1, e2)
    res = rig.call(reg, 'alice', bs, timeout=10)
    assert res.event is not None and res.rc == 0, res.log[-2000:]
    assert [f for f in first.flows() if f[1] == 'INVITE']
    assert not [f for f in second.flows() if f[1] == 'INVITE']


# ---------------------------------------------------------------------
# Caller
# ---------------------------------------------------------------------

def test_call_reaches_baresip_through_its_registrar(registrars, baresip):
    reg, other = registrars(2)
    bs = plain(baresip, [rig.account_line('alice', reg)],
               config=rig.CALLEE_CONFIG)
    assert wait_until(lambda: reg.has_binding('alice'), 5)
    res = rig.call(reg, 'alice', bs, timeout=10)
    assert res.event is not None, res.log[-2000:]
    assert res.event['accountaor'] == rig.aor('alice', reg)
    assert res.rc == 0, res.log[-2000:]
    assert [r.method for r in reg.requests('alice')
            if r.method == 'INVITE'] == [], 'From is the caller'
    assert [r for r in reg.requests() if r.method == 'INVITE']
    # a registrar without the binding: 404, nothing at baresip
    res2 = rig.call(other, 'alice', timeout=5)
    assert res2.event is None and res2.rc == 0, res2.log[-2000:]
    assert not bs.events('CALL_INCOMING', since=res.event['_time'] + 0.001)
    print('call reached baresip in %.2f s' % res.seconds)


def test_call_through_the_flows_of_two_edges(registrars, edges, baresip):
    """A call to an AoR registered through two edges reaches baresip
    over the flow the registrar tries first; with that flow's edge
    killed, over the other (the registrar gives the dead flow
    fr_timer, 5 s)."""
    reg, e1, e2, bs = outbound_setup(registrars, edges, baresip,
                                     config=rig.CALLEE_CONFIG)
    assert wait_until(lambda: len(rig.contacts(reg, 'alice')) == 2, 10)
    first, second = flow_order(reg, e1, e2)
    res = rig.call(reg, 'alice', bs, timeout=10)
    assert res.event is not None and res.rc == 0, (res, reg.log()[-3000:])
    inv1 = [r for r in first.requests() if r.method == 'INVITE']
    assert inv1 and not [r for r in second.requests()
                         if r.method == 'INVITE']
    t_kill = time.time()
    first.stop()
    res = rig.call(reg, 'alice', bs, timeout=15)
    assert res.event is not None and res.rc == 0, (res, reg.log()[-3000:])
    assert [r for r in second.requests(since=t_kill)
            if r.method == 'INVITE']
    print('call over the second flow after %.1f s' % res.seconds)


def test_srv_change_at_run_time_moves_the_next_refresh(
        registrars, baresip, dns):
    """TTL 1 s: the SRV set is changed to name only the second
    registrar (apply(): dnsmasq restarted); baresip's next refresh
    resolves again and goes there, although the first is alive."""
    r1, r2 = registrars(2)
    d = dns(ttl=1)
    d.server_set(DOMAIN, [r1, r2], proto='udp')
    d.apply()
    bs = plain(baresip, [domain_line('alice', DOMAIN, regint=4)],
               config=[d.config_line])
    assert wait_until(lambda: r1.has_binding('alice'), 10), bs.log()[-2000:]
    d.srv(DOMAIN, [('r2.' + DOMAIN, r2.port, 10, 10)], proto='udp')
    d.apply()
    t = time.time()
    assert wait_until(lambda: r2.registers('alice', t), 10), (
        d.queries()[-6:], bs.log()[-2000:])
    assert wait_until(lambda: r2.has_binding('alice'), 5)
    moved = r2.registers('alice', t)[0].time
    time.sleep(4.5)     # one more refresh: not back to the first
    assert r1.registers('alice', moved) == []
    print('refresh at the new target %.1f s after the change'
          % (moved - t))


def test_edge_answering_439_leaves_one_flow(registrars, edges, baresip):
    """An edge that answers REGISTER with '439 First Hop Lacks Outbound
    Support': baresip 1.0.0 reports REGISTER_FAIL with the reason (no
    reg-id in the event) and keeps the other flow; the registrar holds
    one binding, reg-id 2."""
    reg, = registrars(1, template=rig.OUTBOUND_TEMPLATE)
    e1, e2 = edges(reg, 2)
    e1.set_reply(439, 'First Hop Lacks Outbound Support', options=False)
    bs = plain(baresip, [rig.outbound_account('alice', reg, (e1, e2))],
               uuid=True)
    fail = bs.wait_event('REGISTER_FAIL', 10)
    assert fail is not None and '439' in fail.get('param', ''), (
        bs.events())
    assert wait_until(lambda: [c.reg_id for c in
                               rig.contacts(reg, 'alice')] == [2], 10), (
        rig.contacts(reg, 'alice'))
    assert bs.wait_event('REGISTER_OK', 5) is not None
    print('REGISTER_FAIL param: %r' % fail.get('param'))


def test_srv_account_pinned_to_its_second_server_by_outbound(
        registrars, baresip, dns):
    """The pin a module can set with account_set_outbound(): an account
    of the SRV domain with outbound= naming the second server registers
    there (Route to it, Request-URI the domain), although the first
    server is the SRV set's first; kamailio's registrar takes it."""
    r1, r2 = registrars(2)
    d = dns()
    d.server_set(DOMAIN, [r1, r2], proto='udp')
    d.apply()
    line = domain_line('alice', DOMAIN) + (
        ';outbound="sip:%s:%d"' % (HOST, r2.port))
    bs = plain(baresip, [line], config=[d.config_line])
    ok = bs.wait_event('REGISTER_OK', 10)
    assert ok is not None and ok['accountaor'] == ALICE, bs.events()
    assert wait_until(lambda: r2.has_binding('alice'), 5)
    assert not r1.requests('alice')
    reg = r2.registers('alice')[0]
    assert reg.to == ALICE


def test_cut_flow_430_and_the_call_takes_the_other_flow(
        registrars, edges, baresip):
    """rig.cut_tcp(edge port) resets baresip's flow to the edge the
    registrar tries first (the edge lives): baresip reports
    REGISTER_FAIL at once; a call to the AoR is answered 430 by that
    edge (no connection to the UA) and the registrar moves to the other
    flow at once."""
    reg, e1, e2, bs = outbound_setup(registrars, edges, baresip,
                                     config=rig.CALLEE_CONFIG)
    assert wait_until(lambda: len(rig.contacts(reg, 'alice')) == 2, 10)
    first, second = flow_order(reg, e1, e2)
    t_cut = time.time()
    assert rig.cut_tcp(first.port) == 1
    fail = bs.wait_event('REGISTER_FAIL', 5, t_cut)
    assert fail is not None, bs.events()
    res = rig.call(reg, 'alice', bs, timeout=10)
    assert res.event is not None and res.rc == 0, (res, reg.log()[-3000:])
    assert res.seconds < 2, res.seconds
    assert 'route-2' in [f[3] for f in first.flows()], first.flows()
    what = [f[3] for f in rig.srflow(reg) if f[0] >= t_cut]
    assert what[:3] == ['first', 'failed-430', 'next-flow'], what
    # the binding of the dead flow stays at the registrar until it
    # expires: nothing tells the registrar
    assert len(rig.contacts(reg, 'alice')) == 2
    print('REGISTER_FAIL %.3f s after the cut: %r; call over the other '
          'flow in %.2f s; cut edge: %s' % (
              fail['_time'] - t_cut, fail.get('param'), res.seconds,
              [f[3] for f in first.flows()][-3:]))


def test_naptr_picks_the_transport(registrars, baresip, dns):
    """A NAPTR record 'SIP+D2T' for the domain: an account without a
    transport registers over TCP through the _sip._tcp set (RFC 3263
    as libre does it), although a _sip._udp set exists too."""
    r1, r2 = registrars(2)
    d = dns()
    d.server_set(DOMAIN, [r1], proto='tcp')
    d.server_set(DOMAIN, [r2], proto='udp')
    d.naptr(DOMAIN, 10, 10, 'SIP+D2T', '_sip._tcp.' + DOMAIN)
    d.apply()
    bs = plain(baresip, [domain_line('alice', DOMAIN)],
               config=[d.config_line])
    assert wait_until(lambda: r1.has_binding('alice'), 10), (
        d.queries(), bs.log()[-2000:])
    assert {r.proto for r in r1.registers('alice')} == {'tcp'}
    assert not r2.requests('alice')
    assert ('NAPTR', DOMAIN) in d.queries()


def test_dns_name_with_several_addresses(dns):
    """Dns.a(name, addr, *more) gives a name several A records and
    aaaa() AAAA records (one dnsmasq host-record per address): dnsmasq
    answers all of them, for the name and in the additional section of
    an SRV answer naming it; a() again replaces the A records only."""
    pbx, one = 'pbx.' + DOMAIN, 'one.' + DOMAIN
    d = dns(ttl=1)
    d.a(pbx, HOST, rig.HOST2).aaaa(pbx, '::1')
    d.srv(DOMAIN, [(pbx, 5070, 10, 10)])
    d.a(one)
    d.apply()
    with open(d.cfg) as f:
        cfg = f.read().splitlines()
    assert [x for x in cfg if x.startswith('host-record=')] == [
        'host-record=%s,127.0.0.1' % pbx, 'host-record=%s,127.0.0.2' % pbx,
        'host-record=%s,127.0.0.1' % one, 'host-record=%s,::1' % pbx]
    ans = d.query(pbx, 'A')
    print('A records of %s in the order dnsmasq gives: %s'
          % (pbx, [r[2] for r in ans.records]))
    assert ans.rcode == 0
    assert sorted(ans.records) == [('A', 1, '127.0.0.1'),
                                   ('A', 1, '127.0.0.2')], ans
    assert d.query(pbx, 'AAAA').records == [('AAAA', 1, '::1')]
    ans = d.query('_sip._udp.' + DOMAIN, 'SRV')
    assert ans.records == [('SRV', 1, (10, 10, 5070, pbx))], ans
    print('additional section of the SRV answer: %s' % (ans.additional,))
    assert sorted(r[3] for r in ans.additional
                  if r[:2] == (pbx, 'A')) == ['127.0.0.1', '127.0.0.2']
    # one address: one record; no AAAA: NOERROR, no record
    assert d.query(one, 'A').records == [('A', 1, HOST)]
    ans = d.query(one, 'AAAA')
    assert ans.rcode == 0 and ans.records == []

    # a() replaces the A records; the AAAA stays
    d.a(pbx, rig.HOST2).apply()
    assert d.query(pbx, 'A').records == [('A', 1, '127.0.0.2')]
    assert d.query(pbx, 'AAAA').records == [('AAAA', 1, '::1')]


def test_a_records_with_port_are_tried_in_turn_tcp(registrars, baresip,
                                                   dns):
    """<sip:alice@tier0.example:P;transport=tcp>, the name with two A
    records and two registrars on port P at 127.0.0.1 and 127.0.0.2
    (registrars(hosts=...)): plain baresip (libre) asks A only (a port
    given: no NAPTR, no SRV) and registers at one of the addresses;
    that registrar killed, its next refresh goes to the other address
    (connection refused: libre tries the next address at once)."""
    a, b = registrars(hosts=(HOST, rig.HOST2))
    d = dns(ttl=1)
    d.a(DOMAIN, HOST, rig.HOST2)
    d.apply()
    line = '<sip:alice@%s:%d;transport=tcp>;auth_pass=%s;regint=4' % (
        DOMAIN, a.port, rig.PASSWORD)
    bs = plain(baresip, [line], config=[d.config_line])
    ok = bs.wait_event('REGISTER_OK', 10)
    assert ok is not None, (d.queries(), bs.log()[-2000:])
    assert ok['accountaor'] == 'sip:alice@%s:%d' % (DOMAIN, a.port), ok
    assert wait_until(lambda: a.has_binding('alice')
                      or b.has_binding('alice'), 5)
    first, other = (a, b) if a.has_binding('alice') else (b, a)
    assert not other.has_binding('alice') and not other.registers('alice')
    assert {r.proto for r in first.registers('alice')} == {'tcp'}
    qs = d.queries()
    assert ('A', DOMAIN) in qs, qs
    assert not [q for q in qs if q[0] in ('SRV', 'NAPTR')], qs
    print('libre registered at %s first; queries %s' % (first.host, qs))

    t_kill = time.time()
    first.stop()
    # regint 4: libre refreshes after about 3.6 s
    assert wait_until(lambda: other.has_binding('alice'), 10), (
        bs.log()[-2000:])
    moved = other.registers('alice')[0]
    assert moved.time - t_kill < 6 and moved.proto == 'tcp', moved
    print('the other address bound %.1f s after the kill'
          % (moved.time - t_kill))


def test_frozen_edge_fails_its_flow_by_keepalive(registrars, edges,
                                                 baresip):
    """Flow-Timer 20 from the edges: baresip sends CRLF keep-alives on
    each flow every 16-20 s (libre takes no less than 20 s, whatever
    the Flow-Timer); the first edge frozen, the pong is missing and
    baresip reports REGISTER_FAIL 'Connection timed out' (libre's fixed
    10 s pong timeout after that keep-alive): 25-29 s after a freeze 1 s
    after the registration.  About 30 s."""
    reg, = registrars(1, template=rig.OUTBOUND_TEMPLATE)
    e1, e2 = edges(reg, 2)
    # regint 60: no refresh in flight when the keep-alive fails (a
    # REGISTER in flight to the frozen edge fails only after 32 s, and
    # the keep-alive failure is ignored meanwhile)
    bs = plain(baresip, [rig.outbound_account('alice', reg, (e1, e2),
                                              regint=60)],
               uuid=True, config=rig.CALLEE_CONFIG)
    assert wait_until(lambda: len(rig.contacts(reg, 'alice')) == 2, 10)
    # the flow the registrar tries first is the one registered first
    # (usrloc keeps equal-q contacts oldest first); the two REGISTERs
    # race, so freeze the edge of whichever flow that is
    first = rig.contacts(reg, 'alice')[0]
    e1 = next(e for e in (e1, e2) if ':%d' % e.port in first.path)
    time.sleep(1)
    t_freeze = time.time()
    e1.freeze()
    fail = bs.wait_event('REGISTER_FAIL', 40, t_freeze)
    took = None if fail is None else fail['_time'] - t_freeze
    e1.thaw()
    print([(round(e['_time'] - t_freeze, 2), e['type'], e.get('param'))
           for e in bs.events()])
    assert fail is not None, bs.log()[-2000:]
    print('REGISTER_FAIL %.1f s after the freeze: %r'
          % (took, fail.get('param')))
    assert 14 < took < 31, took
    # nothing told the registrar: both bindings are still there
    assert len(rig.contacts(reg, 'alice')) == 2

    # the AoR stays reachable through the other flow; a call from now
    # on first waits fr_timer (5 s) on the frozen edge's flow
    e1.freeze()
    t = time.time()
    at, n = rig.wait_reachable(reg, 'alice', bs, 20, attempt=8)
    e1.thaw()
    assert at is not None and n == 1, (at, n)
    assert 4.5 < at - t < 7, at - t
