"""DNS server sets (issue 10 item 1): an account whose registrar is a
domain, resolved by RFC 3263 (NAPTR, SRV, A), is tracked by serreg as an
ordered set of servers.

Tier 0 is <sip:alice@tier0.example>, an SRV set of two kamailio
registrars (rig.Dns, dnsmasq, TTL 1 s); tier 1 is alice at a third
registrar, by IP.  A fault of the first server of the set is no failure
of the tier: serreg asks the next server at once, pins the account to it
(its outbound proxy) and registers there; the tier fails only when every
server of the set does.  Each test reads the truth at the registrars
(bindings, request logs) and checks that a call through the registrar
holding the binding reaches baresip.

Every address is a server (g.), as libre 1.1.0 tries them: the A
records of an SRV target, and those of a name without SRV records (at
the URI's port, or the transport's default), one server each; two
registrars on the same port at 127.0.0.1 and 127.0.0.2 stand for them.

Short timers: check 5 s, probe timeout 2 s, regint 20, fbregint 5,
failback hold 2, serreg_server_retry 5 (unless a test says otherwise).
"""

import json
import time

import pytest

import rig
from rig import ANSI, HOST, account_line, aor, binding_gaps, wait_until

DOMAIN = 'tier0.example'
ALICE = 'sip:alice@' + DOMAIN
REGINT = 20             # [s] ;regint= of every account
FBREGINT = 5            # [s] ;fbregint= of every account (Cisco mode)
CHECK = 5               # [s] serreg_check_interval
TIMEOUT = 2             # [s] serreg_probe_timeout
HOLD = 2                # serreg_failback_hold
RETRY = 5               # [s] serreg_server_retry
# a silent first server: the next check comes within CHECK (80-100 %
# jitter), its OPTIONS times out after TIMEOUT, the next server is asked
# at once; 3 s for that answer, the REGISTER with its digest round, and
# the load of the machine
DETECT = CHECK + TIMEOUT + 3
# [s] a UDP non-INVITE transaction's lifetime (64*T1): a request of the
# registration the account had before its pin (an un-REGISTER libre sends
# as DNS orders the servers) can reach the pinned server until then
TIMER_F = 32

# every test runs against registrars that challenge REGISTER and against
# registrars that do not (conftest's rig_auth)
AUTH_MODES = ('auth', 'noauth')

CFG = ['serreg_check_interval %d' % CHECK,
       'serreg_probe_timeout %d' % TIMEOUT,
       'serreg_failback_hold %d' % HOLD,
       'serreg_backoff_max 4'] + rig.CALLEE_CONFIG


def domain_line(user, domain, transport='udp', regint=REGINT, prio=0,
                fbregint=FBREGINT):
    """An account line for user at a domain (no port: RFC 3263)."""
    uri = 'sip:%s@%s' % (user, domain)
    if transport != 'udp':
        uri += ';transport=' + transport
    return '<%s>;auth_pass=%s;regint=%d;prio=%d;fbregint=%d' % (
        uri, rig.PASSWORD, regint, prio, fbregint)


def addr(k, transport='udp'):
    """A server as serreg names it: 'udp:127.0.0.1:PORT' (k's host)."""
    return '%s:%s:%d' % (transport, k.host, k.port)


def ladder(registrars, baresip, dns, transport='udp', retry=RETRY,
           config=()):
    """Tier 0: alice at tier0.example, SRV set {r1 prio 10, r2 prio 20};
    tier 1: alice at r3 (by IP).  Started, alice bound at r1 (and no
    REGISTER anywhere else).  (r1, r2, r3, d, bs, t0)"""
    r1, r2, r3 = registrars(3)
    d = dns(ttl=1)
    d.server_set(DOMAIN, [r1, r2], proto=transport)
    d.apply()
    cfg = CFG + [d.config_line] + list(config)
    if retry is not None:
        cfg.append('serreg_server_retry %d' % retry)
    t0 = time.time()
    bs = baresip([domain_line('alice', DOMAIN, transport),
                  account_line('alice', r3, prio=1, fbregint=FBREGINT,
                               regint=REGINT, transport=transport)], cfg)
    assert wait_until(lambda: r1.has_binding('alice'), 10), (
        d.queries(), bs.log()[-3000:])
    assert not r2.has_binding('alice') and r2.registers('alice') == []
    assert r3.registers('alice') == []
    # the set as serreg resolved it
    servers = '%s: servers %s, %s (ttl' % (ALICE, addr(r1, transport),
                                            addr(r2, transport))
    assert wait_until(lambda: servers in bs.log(), 5), bs.log()[-3000:]
    return r1, r2, r3, d, bs, t0


def account(bs, aor_=ALICE):
    """The account aor_ in `serreg json`."""
    accs = [x for x in bs.status()['accounts'] if x['aor'] == aor_]
    assert len(accs) == 1, bs.status()
    return accs[0]


def servers_json(bs, aor_=ALICE):
    """(pinned, [(addr, state, in_use)...]) of alice at tier0.example
    (or aor_) in `serreg json`."""
    acc = account(bs, aor_)
    return acc.get('pinned'), [(s['addr'], s['state'], s['in_use'])
                               for s in acc.get('servers', ())]


def servers_text(bs, aor_=ALICE):
    """The 'servers: ...' line under alice at tier0.example (or aor_)
    in the `serreg` text ('' if none)."""
    lines = ANSI.sub('', bs.command('serreg')['data']).splitlines()
    for i, ln in enumerate(lines[:-1]):
        if ln.split() and ln.split()[-1] == aor_:
            nxt = lines[i + 1].strip()
            return nxt if nxt.startswith('servers:') else ''
    return ''


def server_events(bs, since=0.0):
    """serreg's server events ('serreg server aor=.. server=.. state=..
    pinned=..') as dicts."""
    return bs.serreg_events('server', since)


def bound_since(k, since):
    """time of the 200 to the first REGISTER of alice at k since
    `since` (from its log), None if none."""
    ok = [r for r in k.registers('alice', since) if r.final == 200]
    return ok[0].answer_time if ok and ok[0].answer_time else None


def unregisters(k, since):
    """REGISTERs with expires=0 of alice at k since `since`: (time,
    Call-ID, answer)."""
    return [(round(r.time - since, 3), r.callid, r.answer)
            for r in k.requests('alice', 'REGISTER', since)
            if r.expires == 0]


def reaches(k, bs, aor_=ALICE):
    """A call through k reaches baresip, for the account aor_."""
    res = rig.call(k, 'alice', bs, timeout=10)
    assert res.event is not None and res.rc == 0, (
        res.rc, res.log[-1500:], bs.log()[-2000:])
    assert res.event['accountaor'] == aor_, res.event
    return res


def pinned_to(bs, k, transport='udp', aor_=ALICE):
    return ('%s: requests through server %s (pinned)'
            % (aor_, addr(k, transport)) in bs.log())


def no_move(bs, r3, t0, since):
    """No move since `since`, tier 1 never registered."""
    assert bs.moves(since) == [], bs.moves(since)
    assert r3.registers('alice', t0) == [], r3.registers('alice', t0)
    assert bs.status()['current'] == 0


# ---------------------------------------------------------------------
# a. UDP: the first server frozen, the account pinned to the second;
#    failback to the first once it answers again
# ---------------------------------------------------------------------

def frozen_rebinds(first, other, r3, bs, t0):
    """UDP: the server in use (first) frozen right after the first
    registration (no refresh of it in flight: regint 20, the next one
    after 18 s): within DETECT alice is bound at the other, pinned
    there, first logged dead, no tier move.  (t_f, t_b): the freeze,
    the 200 of the new binding."""
    t_f = time.time()
    first.freeze()
    assert wait_until(lambda: other.has_binding('alice'), DETECT + 5), (
        bs.log()[-4000:])
    t_b = bound_since(other, t_f)
    assert t_b is not None, other.registers('alice')
    print('frozen %s: bound at %s %.2f s after the freeze'
          % (addr(first), addr(other), t_b - t_f))
    assert t_b - t_f <= DETECT, t_b - t_f
    assert pinned_to(bs, other), bs.log()[-3000:]
    assert '%s: server %s dead (' % (ALICE, addr(first)) in bs.log()
    no_move(bs, r3, t0, t_f)
    return t_f, t_b


def test_frozen_first_server_udp_pins_to_second_and_fails_back(
        registrars, baresip, dns):
    r1, r2, r3, d, bs, t0 = ladder(registrars, baresip, dns)
    t_f, t_b = frozen_rebinds(r1, r2, r3, bs, t0)
    assert account(bs)['state'] == 'registered'

    # serreg json and the text: r1 dead, r2 in use, pinned
    want = (True, [(addr(r1), 'dead', False), (addr(r2), 'alive', True)])
    assert wait_until(lambda: servers_json(bs) == want, 5), (
        servers_json(bs))
    txt = servers_text(bs)
    assert '%s dead' % addr(r1) in txt, txt
    assert '%s alive (in use, pinned)' % addr(r2) in txt, txt
    assert 'servers' not in account(bs, aor('alice', r3)), (
        account(bs, aor('alice', r3)))
    ev = [e for e in server_events(bs, t_f) if e.get('server') == addr(r1)]
    assert ev and ev[0]['state'] == 'dead' and ev[0]['aor'] == ALICE, (
        server_events(bs))

    # pinned for good: the refreshes go to r2, its binding never lapses,
    # for a refresh interval and until no request of the registration
    # before the pin (an un-REGISTER to r1, then to r2 after Timer F)
    # can remove it
    t_hold = time.time()
    gaps = binding_gaps(r2, 'alice', max(t_hold + REGINT + 2,
                                         t_b + TIMER_F + 4))
    assert gaps == [], (gaps, unregisters(r2, t_f), bs.log()[-3000:])
    assert r2.registers('alice', t_hold), 'no refresh through r2'
    no_move(bs, r3, t0, t_f)
    reaches(r2, bs)

    # r1 back: after HOLD good OPTIONS at the checks, back to r1
    # (unpinned), registered there, a call through r1 reaches baresip
    unpinned = ('%s: requests through server %s, the first of its set '
                '(unpinned)' % (ALICE, addr(r1)))
    n_unpinned = bs.log().count(unpinned)
    t_thaw = time.time()
    r1.thaw()
    back = RETRY + (HOLD + 1) * CHECK + TIMEOUT + 3
    assert wait_until(lambda: bs.log().count(unpinned) > n_unpinned,
                      back), bs.log()[-4000:]
    assert wait_until(lambda: bound_since(r1, t_thaw) is not None
                      and r1.has_binding('alice'), 5), bs.log()[-4000:]
    print('r1 back: bound there %.2f s after the thaw; binding left at '
          'r2: %s' % (bound_since(r1, t_thaw) - t_thaw,
                      r2.has_binding('alice')))
    assert [e for e in server_events(bs, t_thaw)
            if e.get('server') == addr(r1) and e['state'] == 'alive'], (
        server_events(bs))
    want = (False, [(addr(r1), 'alive', True), (addr(r2), 'alive', False)])
    assert wait_until(lambda: servers_json(bs) == want, 5), (
        servers_json(bs))
    no_move(bs, r3, t0, t_f)
    reaches(r1, bs)


# ---------------------------------------------------------------------
# b. TCP: the first server killed, registered through the second at once
# ---------------------------------------------------------------------

def killed_rebinds(first, other, r3, bs, t0, aor_=ALICE):
    """TCP: the server in use (first) killed: alice is bound at the
    other within 3 s, pinned there, with no tier move; the binding
    holds for a refresh interval (nothing of the registration before
    the pin, such as its un-REGISTER sent as DNS orders the servers,
    removes it), `serreg json` shows the other alive, in use and
    pinned, and a call through it reaches baresip."""
    time.sleep(1)
    t_k = time.time()
    first.stop()
    assert wait_until(lambda: other.has_binding('alice'), 5), (
        [(round(r.time - t_k, 3), r.expires, r.callid, r.answer)
         for r in other.requests('alice', 'REGISTER', t_k)],
        bs.log()[-4000:])
    t_b = bound_since(other, t_k)
    assert t_b is not None, other.registers('alice')
    print('killed %s (TCP): bound at %s %.3f s after the kill'
          % (addr(first, 'tcp'), addr(other, 'tcp'), t_b - t_k))
    assert t_b - t_k < 3, t_b - t_k
    gaps = binding_gaps(other, 'alice', time.time() + REGINT + 2)
    assert gaps == [], (gaps, unregisters(other, t_k), bs.log()[-3000:])
    assert {r.proto for r in other.registers('alice')} == {'tcp'}
    assert pinned_to(bs, other, 'tcp', aor_), bs.log()[-3000:]
    time.sleep(1)
    no_move(bs, r3, t0, t_k)
    pinned, servers = servers_json(bs, aor_)
    assert pinned is True and servers[1] == (
        addr(other, 'tcp'), 'alive', True), servers
    reaches(other, bs, aor_)


def test_killed_first_server_tcp_registers_through_second_at_once(
        registrars, baresip, dns):
    r1, r2, r3, d, bs, t0 = ladder(registrars, baresip, dns, 'tcp')
    assert {r.proto for r in r1.registers('alice')} == {'tcp'}
    killed_rebinds(r1, r2, r3, bs, t0)


# ---------------------------------------------------------------------
# c. Every server of tier 0 frozen: only then the tier fails
# ---------------------------------------------------------------------

def freeze_tier0(r1, r2, r3, bs):
    """Freeze both servers of tier 0: the tier moves to tier 1 once
    both failed (r1, then r2 asked at once); alice bound at r3.
    Returns the time of the freeze."""
    t_f = time.time()
    r1.freeze()
    r2.freeze()
    mv = bs.wait_move(1, CHECK + 2 * TIMEOUT + 8, t_f)
    assert mv and mv[-1]['from'] == '0', (bs.moves(), bs.log()[-4000:])
    assert wait_until(lambda: r3.has_binding('alice'), 5), (
        bs.log()[-3000:])
    # the order in the log: r1 dead, r2 dead, then the move
    log = bs.log()
    i1 = log.rfind('%s: server %s dead (' % (ALICE, addr(r1)))
    i2 = log.rfind('%s: server %s dead (' % (ALICE, addr(r2)))
    im = log.rfind('serreg: tier 0 -> 1 (')
    assert 0 <= i1 < im and 0 <= i2 < im, (i1, i2, im, log[-4000:])
    print('tier 0 (both servers frozen) left %.2f s after the freeze'
          % (mv[-1]['_time'] - t_f))
    return t_f


def test_every_server_frozen_moves_the_tier(registrars, baresip, dns):
    r1, r2, r3, d, bs, t0 = ladder(registrars, baresip, dns)
    freeze_tier0(r1, r2, r3, bs)
    assert bs.current_aor() == aor('alice', r3)
    reaches(r3, bs, aor('alice', r3))


# ---------------------------------------------------------------------
# d. Standby probes per server: tier 0 found alive through its second
#    server, failback pinned to it
# ---------------------------------------------------------------------

def test_standby_probed_per_server_fails_back_pinned(registrars, baresip,
                                                      dns):
    r1, r2, r3, d, bs, t0 = ladder(registrars, baresip, dns)
    freeze_tier0(r1, r2, r3, bs)

    t_thaw = time.time()
    r2.thaw()
    back = 2 * (FBREGINT + TIMEOUT) + HOLD * FBREGINT + 5
    mv = bs.wait_move(0, back, t_thaw)
    assert mv and mv[-1]['reason'] == 'failback', (bs.moves(t_thaw),
                                                   bs.log()[-4000:])
    assert wait_until(lambda: r2.has_binding('alice'), 5), (
        bs.log()[-4000:])
    print('tier 0 back through its second server: moved %.2f s, bound '
          '%.2f s after the thaw' % (mv[-1]['_time'] - t_thaw,
                                     bound_since(r2, t_thaw) - t_thaw))
    # tier 0 failed its check: its standby probes are OPTIONS (or
    # REGISTER expires=0), r1's and r2's each
    asked = [r for r in r2.requests('alice', since=t_thaw)
             if r.method == 'OPTIONS' or r.is_probe]
    assert asked, 'no standby probe at r2'
    assert pinned_to(bs, r2), bs.log()[-3000:]
    assert r1.frozen
    pinned, servers = servers_json(bs)
    assert pinned is True and servers == [(addr(r1), 'dead', False),
                                          (addr(r2), 'alive', True)], (
        servers)
    assert wait_until(lambda: not r3.has_binding('alice'), 5)
    assert bs.current_aor() == ALICE
    # the failback's binding holds for a refresh interval
    gaps = binding_gaps(r2, 'alice', time.time() + REGINT + 2)
    assert gaps == [], (gaps, unregisters(r2, t_thaw), bs.log()[-3000:])
    reaches(r2, bs)

    # nothing asked r1 for a binding while it was frozen: what it had
    # queued is read at once after its thaw (a failback to it takes
    # HOLD checks, seconds later)
    t_thaw1 = time.time()
    r1.thaw()
    time.sleep(1.5)
    queued = r1.registers('alice', t_thaw1)
    assert queued == [], queued


# ---------------------------------------------------------------------
# e. The SRV set changes at run time (TTL 1 s) while pinned
# ---------------------------------------------------------------------

def pinned_to_second(registrars, baresip, dns):
    """ladder() with the default server retry, a fourth registrar r4
    (in no set yet), then r1 frozen: alice pinned to r2 and bound
    there.  (r1, r2, r3, r4, d, bs, t0, t_f: the freeze)"""
    r1, r2, r3, d, bs, t0 = ladder(registrars, baresip, dns, retry=None)
    r4, = registrars(1)
    t_f = time.time()
    r1.freeze()
    assert wait_until(lambda: r2.has_binding('alice') and
                      pinned_to(bs, r2), DETECT + 5), bs.log()[-4000:]
    return r1, r2, r3, r4, d, bs, t0, t_f


def test_dns_change_while_pinned_moves_to_the_new_server(registrars,
                                                         baresip, dns):
    """Pinned to r2 (r1 frozen); the set becomes {r1 (frozen), r4}:
    the account leaves r2 and binds at r4, nothing more goes to r2.
    The default serreg_server_retry (60 s): r1 is still known dead."""
    r1, r2, r3, r4, d, bs, t0, t_f = pinned_to_second(registrars, baresip,
                                                      dns)

    t_c = time.time()
    d.server_set(DOMAIN, [r1, r4], proto='udp')
    d.apply()
    # resolved again within 5 s (the shortest TTL serreg uses), then a
    # check and its timeout if it tries r1 first
    assert wait_until(lambda: r4.has_binding('alice'),
                      5 + CHECK + TIMEOUT + 5), (
        d.queries()[-6:], bs.log()[-4000:])
    t4 = bound_since(r4, t_c)
    print('set changed: bound at the new server %.2f s after the change'
          % (t4 - t_c))
    assert '%s: servers %s, %s (ttl' % (ALICE, addr(r1), addr(r4)) in (
        bs.log()), bs.log()[-3000:]
    time.sleep(2 * CHECK + 2)
    late = r2.requests('alice', since=t4 + 1)
    assert late == [], late
    pinned, servers = servers_json(bs)
    assert [s[0] for s in servers] == [addr(r1), addr(r4)], servers
    assert pinned is True and servers[1][2] is True, (pinned, servers)
    print('binding left at r2: %s' % r2.has_binding('alice'))
    # the binding at the new server holds for a refresh interval
    gaps = binding_gaps(r4, 'alice', time.time() + REGINT + 2)
    assert gaps == [], (gaps, unregisters(r4, t_c), bs.log()[-3000:])
    no_move(bs, r3, t0, t_f)
    reaches(r4, bs)


def test_set_shrinks_to_one_server_registers_through_it(registrars,
                                                        baresip, dns):
    """Pinned to r2 (r1 frozen); the set becomes one server, r4: no set
    any more, requests as DNS orders them, and the account registers
    again through r4 at once.  (Before issue 17 the pin was dropped
    without a new REGISTER: the reg client went on refreshing through
    r2 while `serreg` showed no set, and r4 never got the binding.)"""
    r1, r2, r3, r4, d, bs, t0, t_f = pinned_to_second(registrars, baresip,
                                                      dns)

    t_c = time.time()
    d.server_set(DOMAIN, [r4], proto='udp')
    d.apply()
    # resolved again within 5 s (the shortest TTL serreg uses)
    assert wait_until(lambda: r4.has_binding('alice'), 5 + TIMEOUT + 3), (
        d.queries()[-6:], bs.log()[-4000:])
    t4 = bound_since(r4, t_c)
    print('set of one: bound at its server %.2f s after the change'
          % (t4 - t_c))
    acc = account(bs)
    assert 'servers' not in acc and not acc.get('pinned'), acc
    # nothing more through r2 (its un-REGISTER aside), and the binding
    # at r4 holds for a refresh interval
    gaps = binding_gaps(r4, 'alice', time.time() + REGINT + 2)
    assert gaps == [], (gaps, unregisters(r4, t_c), bs.log()[-3000:])
    late = [r for r in r2.requests('alice', since=t4 + 1)
            if r.is_registration]
    assert late == [], late
    no_move(bs, r3, t0, t_f)
    reaches(r4, bs)


# ---------------------------------------------------------------------
# f. Bad serreg_server_retry values
# ---------------------------------------------------------------------

@pytest.mark.parametrize('value', ['0', 'abc', '3601'])
def test_bad_server_retry_named_default_used(registrars, baresip, dns,
                                             value):
    r1, r2 = registrars(2)
    d = dns(ttl=1)
    d.server_set(DOMAIN, [r1, r2])
    d.apply()
    bs = baresip([domain_line('alice', DOMAIN)],
                 CFG + [d.config_line, 'serreg_server_retry %s' % value])
    assert wait_until(lambda: r1.has_binding('alice'), 10), (
        bs.log()[-3000:])
    line = [x for x in bs.log().splitlines() if 'serreg_server_retry' in x]
    assert line, bs.log()[-3000:]
    assert '"%s"' % value in line[0] and '1..3600' in line[0], line
    assert 'default' in line[0], line
    assert bs.running and bs.status()['state'] == 'registered'
    assert account(bs).get('servers'), account(bs)


# ---------------------------------------------------------------------
# g. Every address is a server (libre 1.1.0): the A records of one SRV
#    target, or of a name without SRV records, one server each
# ---------------------------------------------------------------------

PBX = 'pbx.' + DOMAIN       # an SRV target with several addresses


def port_line(user, host, port, transport='udp', regint=REGINT, prio=0,
              fbregint=FBREGINT):
    """An account line for user at a name with a port (no SRV: its A
    records at that port)."""
    uri = 'sip:%s@%s:%d' % (user, host, port)
    if transport != 'udp':
        uri += ';transport=' + transport
    return '<%s>;auth_pass=%s;regint=%d;prio=%d;fbregint=%d' % (
        uri, rig.PASSWORD, regint, prio, fbregint)


def servers_logged(bs, aor_=ALICE):
    """The sets serreg logged for aor_ ('ALICE: servers X, Y (ttl ..'),
    oldest first: the text after 'servers '."""
    tag = '%s: servers ' % aor_
    return [ln.split(tag, 1)[1] for ln in bs.log().splitlines()
            if tag in ln]


def set_of(bs, names, aor_=ALICE, timeout=10):
    """Wait until `serreg json` lists for aor_ exactly the servers
    `names` (in any order); their (pinned, [(addr, state, in_use)...])
    in serreg's order.  Fails saying what serreg has instead."""
    want = sorted(names)

    def listed():
        got = servers_json(bs, aor_)
        return got if sorted(x[0] for x in got[1]) == want else None
    got = wait_until(listed, timeout)
    assert got, ('serreg json: no set of the servers %s for %s: %r; '
                 'sets logged: %s' % (want, aor_, account(bs, aor_),
                                      servers_logged(bs, aor_)))
    return got


def address_ladder(registrars, baresip, dns, transport='udp', srv=True,
                   aaaa=False, port=None):
    """Tier 0: alice at a name with two A records, 127.0.0.1 and
    127.0.0.2, where two registrars listen on the same port P: srv:
    <sip:alice@tier0.example>, an SRV set of ONE target, PBX:P; else
    <sip:alice@tier0.example:P> (no SRV record: the A records of
    tier0.example at P), or, with port 5060 (the caller leased it),
    <sip:alice@tier0.example> (no SRV record: the A records at the
    default port).  aaaa: the name also has an AAAA record ::1.
    Tier 1: alice at r3 (by IP).  Started; serreg lists the two
    addresses as a set of two servers (its order read from `serreg
    json`, not assumed), the first in use, not pinned, and alice is
    bound at the first only.  (first, other, r3, d, bs, t0, aor)"""
    ra, rb = registrars(hosts=(HOST, rig.HOST2), port=port)
    r3, = registrars(1)
    d = dns(ttl=1)
    name = PBX if srv else DOMAIN
    d.a(name, HOST, rig.HOST2)
    if aaaa:
        d.aaaa(name, '::1')
    if srv:
        d.srv(DOMAIN, [(PBX, ra.port, 10, 10)], proto=transport)
        line, aor_ = domain_line('alice', DOMAIN, transport), ALICE
    elif port == 5060:
        line, aor_ = domain_line('alice', DOMAIN, transport), ALICE
    else:
        line = port_line('alice', DOMAIN, ra.port, transport)
        aor_ = 'sip:alice@%s:%d' % (DOMAIN, ra.port)
    d.apply()
    t0 = time.time()
    bs = baresip([line, account_line('alice', r3, prio=1,
                                     fbregint=FBREGINT, regint=REGINT,
                                     transport=transport)],
                 CFG + [d.config_line, 'serreg_server_retry %d' % RETRY])
    pinned, servers = set_of(bs, [addr(ra, transport),
                                  addr(rb, transport)], aor_)
    first, other = ((ra, rb) if servers[0][0] == addr(ra, transport)
                    else (rb, ra))
    print('serreg lists %s first; REGISTERs at the other so far: %d'
          % (servers[0][0], len(other.registers('alice'))))
    assert pinned is False and servers[0][2] is True, servers
    assert wait_until(lambda: first.has_binding('alice'), 10), (
        d.queries(), bs.log()[-3000:])
    # bound at the first only (a REGISTER libre sent as its own order
    # of the addresses before the set was known is given time to be
    # taken back)
    assert wait_until(lambda: not other.has_binding('alice'), 5), (
        [(round(r.time - t0, 3), r.expires, r.callid, r.answer)
         for r in other.requests('alice', 'REGISTER')],
        bs.log()[-3000:])
    assert r3.registers('alice') == []
    # a set known only after the first REGISTER: serreg registers once
    # more through the first server named (state registering a moment)
    assert wait_until(lambda: account(bs, aor_)['state'] == 'registered',
                      5), (account(bs, aor_), bs.log()[-3000:])
    assert first.has_binding('alice')
    assert {r.proto for r in first.registers('alice')} == {transport}
    return first, other, r3, d, bs, t0, aor_


def test_addresses_of_one_srv_target_are_servers_udp(registrars,
                                                      baresip, dns):
    """An SRV set of ONE target with two A records (127.0.0.1 and
    127.0.0.2, a registrar on the same port at each) is a set of two
    servers, udp:127.0.0.1:P and udp:127.0.0.2:P.  The address in use
    frozen: within DETECT the account is pinned to the other address
    and bound there, without a tier move; that binding holds for a
    refresh interval and past Timer F (nothing of the registration
    before the pin removes it), and a call through it reaches
    baresip."""
    first, other, r3, d, bs, t0, aor_ = address_ladder(
        registrars, baresip, dns)
    t_f, t_b = frozen_rebinds(first, other, r3, bs, t0)
    want = (True, [(addr(first), 'dead', False),
                   (addr(other), 'alive', True)])
    assert wait_until(lambda: servers_json(bs) == want, 5), (
        servers_json(bs))
    assert '%s alive (in use, pinned)' % addr(other) in servers_text(bs)

    # pinned for good: the refreshes go to the other address, the
    # binding never lapses, for a refresh interval and until no request
    # of the registration before the pin can remove it
    t_hold = time.time()
    gaps = binding_gaps(other, 'alice', max(t_hold + REGINT + 2,
                                            t_b + TIMER_F + 4))
    assert gaps == [], (gaps, unregisters(other, t_f), bs.log()[-3000:])
    assert other.registers('alice', t_hold), 'no refresh at the other'
    assert {r.proto for r in other.registers('alice')} == {'udp'}
    no_move(bs, r3, t0, t_f)
    assert first.frozen
    reaches(other, bs)


def test_a_records_without_srv_are_a_set_tcp(registrars, baresip, dns):
    """<sip:alice@tier0.example:P;transport=tcp>: a port, so no SRV;
    the name's two A records (127.0.0.1, 127.0.0.2; a registrar on P at
    each) are a set of two servers, tcp:127.0.0.1:P and
    tcp:127.0.0.2:P.  The one in use killed: bound at the other within
    3 s, pinned there, no tier move; the binding holds for a refresh
    interval and a call through it reaches baresip."""
    first, other, r3, d, bs, t0, aor_ = address_ladder(
        registrars, baresip, dns, 'tcp', srv=False)
    assert not [q for q in d.queries() if q[0] == 'SRV'], d.queries()
    killed_rebinds(first, other, r3, bs, t0, aor_)


def test_a_records_without_srv_default_port_tcp(registrars, baresip, dns,
                                                rig_session):
    """<sip:alice@tier0.example;transport=tcp>, a name with two A records
    and no SRV (nor NAPTR) record: the A records at TCP's default port,
    5060, are a set of two servers, tcp:127.0.0.1:5060 and
    tcp:127.0.0.2:5060; the one in use killed, bound at the other
    within 3 s, no tier move, the binding holds for a refresh
    interval and a call reaches baresip.  Skipped when 5060 is taken
    on either address."""
    if not rig.lease_port(5060, (HOST, rig.HOST2)):
        pytest.skip('port 5060 is taken on 127.0.0.1 or 127.0.0.2')
    rig_session.ports.append(5060)      # released at teardown
    first, other, r3, d, bs, t0, aor_ = address_ladder(
        registrars, baresip, dns, 'tcp', srv=False, port=5060)
    assert ('SRV', '_sip._tcp.' + DOMAIN) in d.queries(), d.queries()
    killed_rebinds(first, other, r3, bs, t0, aor_)


@pytest.mark.parametrize('where', ['srv-targets', 'one-target', 'port'])
def test_aaaa_ignored_without_ipv6_transport(registrars, baresip, dns,
                                             where):
    """baresip listens on 127.0.0.1 only (no IPv6 transport): an AAAA
    record (::1) is no server.  srv-targets: an SRV set of two targets,
    the first with an A and an AAAA record: the set is the two IPv4
    servers, in SRV order.  one-target: one SRV target with two A
    records and an AAAA: the set is the two IPv4 addresses.  port:
    <sip:alice@tier0.example:P>, one A and one AAAA record: one
    address, no set.  No '::1' anywhere in what serreg shows or logs
    of the set; alice registers normally and a call reaches her."""
    if where == 'one-target':
        first, other, r3, d, bs, t0, aor_ = address_ladder(
            registrars, baresip, dns, aaaa=True)
        reg = first
    else:
        r1, r2 = registrars(2)
        d = dns(ttl=1)
        if where == 'srv-targets':
            d.server_set(DOMAIN, [r1, r2])
            d.aaaa('%s.%s' % (r1.name, DOMAIN), '::1')
            line, aor_ = domain_line('alice', DOMAIN), ALICE
        else:
            d.a(DOMAIN, HOST).aaaa(DOMAIN, '::1')
            line = port_line('alice', DOMAIN, r1.port)
            aor_ = 'sip:alice@%s:%d' % (DOMAIN, r1.port)
        d.apply()
        bs = baresip([line], CFG + [d.config_line])
        assert wait_until(lambda: r1.has_binding('alice'), 10), (
            d.queries(), bs.log()[-3000:])
        reg = r1
        if where == 'srv-targets':
            pinned, servers = set_of(bs, [addr(r1), addr(r2)])
            assert [x[0] for x in servers] == [addr(r1), addr(r2)], (
                servers)
            assert not r2.registers('alice')
        else:
            time.sleep(2)           # the set resolved (TTL 1 s) again
            acc = account(bs, aor_)
            assert 'servers' not in acc and 'pinned' not in acc, acc
            assert servers_text(bs, aor_) == ''
    print('AAAA queries: %s; sets logged: %s'
          % ([q for q in d.queries() if q[0] == 'AAAA'],
             servers_logged(bs, aor_)))
    assert '::1' not in json.dumps(bs.status()), bs.status()
    assert '::1' not in ' '.join(servers_logged(bs, aor_))
    assert '::1' not in servers_text(bs, aor_)
    assert wait_until(lambda: account(bs, aor_)['state'] == 'registered',
                      5), account(bs, aor_)
    assert bs.status()['current'] == 0
    reaches(reg, bs, aor_)


def test_one_address_is_no_set(registrars, baresip, dns):
    """<sip:alice@tier0.example:P>: a port, no SRV, and the name has ONE
    A record: one server, no set (as an account by IP: no 'servers' nor
    'pinned' in `serreg json`, no servers line in `serreg`); alice
    registers there, stays registered over a refresh, and a call
    reaches her."""
    r1, = registrars(1)
    d = dns(ttl=1)
    d.a(DOMAIN, HOST)
    d.apply()
    aor_ = 'sip:alice@%s:%d' % (DOMAIN, r1.port)
    bs = baresip([port_line('alice', DOMAIN, r1.port)],
                 CFG + [d.config_line])
    assert wait_until(lambda: r1.has_binding('alice'), 10), (
        d.queries(), bs.log()[-3000:])
    assert ('A', DOMAIN) in d.queries(), d.queries()
    time.sleep(2)                   # past a TTL: resolved again
    acc = account(bs, aor_)
    assert 'servers' not in acc and 'pinned' not in acc, acc
    assert servers_text(bs, aor_) == ''
    assert acc['state'] == 'registered' and bs.status()['current'] == 0
    print('sets logged: %s' % servers_logged(bs, aor_))
    assert not [ln for ln in bs.log().splitlines()
                if 'requests through server' in ln], bs.log()[-3000:]
    # the refresh (regint 20: after about 18 s) is answered 200 there
    t = time.time()
    gaps = binding_gaps(r1, 'alice', t + REGINT + 2)
    assert gaps == [], (gaps, bs.log()[-3000:])
    assert [r for r in r1.registers('alice', t) if r.final == 200], (
        r1.registers('alice'))
    reaches(r1, bs, aor_)


def test_synchronous_register_error_reported_once(registrars, baresip,
                                                   dns):
    """A REGISTER that cannot be sent is one failure, reported once.

    Tier 1 is alice at tier0.example, an SRV set whose first server is
    255.255.255.255 (a UDP send there fails at once, EACCES: no
    SO_BROADCAST) and whose second is a live registrar.  When tier 0
    fails, serreg routes tier 1 through its first server and calls
    ua_register(), which fails synchronously: baresip raises
    REGISTER_FAIL itself and returns the error.  The engine must hear
    that failure once: the first server is dead with the real error
    (not the "Input/output error" of the event's text), the second is
    asked once (one server check, not a hunt restarted by a second
    report), then alice registers there."""
    r0, r2, r3 = registrars(3)
    d = dns(ttl=1)
    d.a('bcast.' + DOMAIN, '255.255.255.255')
    d.a('live.' + DOMAIN, HOST)
    d.srv(DOMAIN, [('bcast.' + DOMAIN, r2.port, 10, 10),
                   ('live.' + DOMAIN, r2.port, 20, 10)])
    d.apply()
    bad = 'udp:255.255.255.255:%d' % r2.port
    bs = baresip([account_line('alice', r0, prio=0),
                  domain_line('alice', DOMAIN, prio=1, fbregint=0),
                  account_line('alice', r3, prio=2)],
                 CFG + [d.config_line])
    assert wait_until(lambda: r0.has_binding('alice'), 10)
    assert wait_until(lambda: '%s: servers %s' % (ALICE, bad) in bs.log(),
                      5), bs.log()[-3000:]

    t0 = time.time()
    r0.set_reply(503)
    assert bs.wait_move(1, 30, t0), bs.log()[-3000:]
    assert wait_until(lambda: r2.has_binding('alice'), 10), \
        bs.log()[-3000:]
    time.sleep(1)

    reg = r2.registers('alice', t0)[0]
    checks = [r for r in r2.requests('alice', 'OPTIONS', t0)
              if not r.retrans]
    before = [r for r in checks if r.time < reg.time]
    assert len(before) == 1, (before, bs.log()[-3000:])
    log = bs.log()
    assert '%s: server %s dead (Permission denied)' % (ALICE, bad) in log, \
        log[-3000:]
    assert 'dead (Input/output error)' not in log, log[-3000:]
    assert bs.status()['current'] == 1
    assert r3.registers('alice', t0) == []
