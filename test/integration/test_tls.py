"""TLS registrars: serreg verifies what baresip 1.0.0 does not.

libre 1.1.0's SIP transport never verifies the server, so baresip
registers over TLS to any certificate.  serreg verifies the certificate
chain of a TLS registrar against baresip's sip_cafile and the host name
(verify.c) before it trusts a probe or a check, and before a TLS
account's first REGISTER (the gate in serreg.c).  A registrar that fails
counts as dead: no REGISTER asking for a binding ever reaches it.

Kamailio's tls module serves certificates made at test time by
rig.TestCA (openssl): signed by the test CA for 127.0.0.1, self-signed,
or signed by the test CA for another host.
"""

import re
import time

import rig
from rig import HOST, TestCA, account_line, aor, wait_until

FAST = ['serreg_probe_timeout 2', 'serreg_failback_hold 1',
        'serreg_backoff_max 4']
MOVE = 10        # [s] start, gate and first REGISTER, with margin
SELF_SIGNED = 'TLS certificate not verified: self-signed certificate'
WRONG_HOST = 'TLS certificate not verified: IP address mismatch'
# baresip 1.1.0 (libre 2.0.1) verifies its own TLS connections when
# sip_cafile is set: the gate's OPTIONS fails there first, with libre's
# EPROTO, before serreg's own check (manual §14.4)
REFUSED = SELF_SIGNED if rig.BARESIP_VERSION == '1.0.0' else \
    'Protocol error'



def tls_line(user, reg, **kw):
    """An account line for reg's TLS listener (port+1)."""
    return account_line(user, '%s:%d' % (HOST, reg.tls_port),
                        transport='tls', **kw)


def tls_aor(user, reg):
    return aor(user, reg.tls_port)


def tier_account(status, tier):
    """The one account of a tier in a `serreg json` status."""
    accs = [x for x in status['accounts'] if x['tier'] == tier]
    assert len(accs) == 1, status
    return accs[0]


def dead_lines(bs, reg):
    """serreg's log lines that count reg's TLS listener as dead."""
    pat = re.compile(r'serreg: TLS registrar %s:%d for host %s counts as '
                     r'dead: (.*) \(CA file ' % (re.escape(HOST),
                                                 reg.tls_port,
                                                 re.escape(HOST)))
    return [m.group(1) for m in pat.finditer(bs.log())]


def serreg_authorized(reg, since):
    """Requests carrying credentials that reg received since, without
    baresip's own expires=0 REGISTER at load (the first Call-ID: it
    parks the account, and baresip answers its challenge over the
    unverified connection, see docs/manual.md)."""
    reqs = reg.requests('alice', since=since)
    first = reg.requests('alice', 'REGISTER')[:1]
    own = {r.callid for r in first}
    return [r for r in reqs if r.authorized and r.callid not in own]


def test_tls_good_certificate(registrars, baresip, tmp_path):
    ca = TestCA(str(tmp_path / 'ca'))
    a, = registrars(1, tls=ca.issue('a'))
    b, = registrars(1, tls=ca.issue('b'))
    t0 = time.time()
    bs = baresip([tls_line('alice', a, prio=0),
                  tls_line('alice', b, prio=1, fbregint=2)],
                 FAST + ['sip_cafile ' + ca.cert,
                         'serreg_check_interval 2'])

    # registered over TLS at the best tier
    assert wait_until(lambda: a.has_binding('alice'), MOVE)
    assert 'transport=tls' in a.bindings('alice')[0].uri
    assert bs.current_aor() == tls_aor('alice', a)

    # the standby tier's probes are trusted: alive
    assert wait_until(lambda: tier_account(bs.status(), 1)['state']
                      == 'alive', 8)
    # the gate's OPTIONS and at least two checks of the tier in use
    assert wait_until(lambda: len(a.requests('alice', 'OPTIONS', t0))
                      >= 3, 8)
    st = bs.status()
    assert tier_account(st, 0)['state'] == 'registered'
    assert tier_account(st, 0)['answer'] == '200'
    assert st['current'] == 0
    assert not b.has_binding('alice')

    # everything went over TLS, probes and checks included
    for reg in (a, b):
        reqs = reg.requests('alice', since=t0)
        assert reqs and {r.proto for r in reqs} == {'tls'}, reqs
    assert b.probes('alice', t0)

    log = bs.log()
    for reg in (a, b):
        assert ('serreg: TLS registrar %s:%d verified for host %s'
                % (HOST, reg.tls_port, HOST)) in log
    assert 'counts as dead' not in log


def test_tls_self_signed_is_dead(registrars, baresip, tmp_path):
    ca = TestCA(str(tmp_path / 'ca'))
    a, = registrars(1, tls=ca.self_signed('a'))
    b, = registrars(1, tls=ca.issue('b'))
    t0 = time.time()
    bs = baresip([tls_line('alice', a, prio=0),
                  tls_line('alice', b, prio=1)],
                 FAST + ['sip_cafile ' + ca.cert])

    mv = bs.wait_move(1, MOVE)
    assert mv, bs.moves(t0)
    assert (mv[-1]['from'], mv[-1]['reason'], mv[-1]['answer']) == \
        ('0', 'tier_failed', REFUSED)
    assert wait_until(lambda: b.has_binding('alice'), MOVE)
    assert bs.current_aor() == tls_aor('alice', b)

    # tier 0 answered (kamailio is up), yet it never got a REGISTER
    # asking for a binding, nor any credentials after the gate (1.1.0:
    # baresip's own handshake refused it, nothing reached it)
    if REFUSED == SELF_SIGNED:
        assert a.requests('alice', 'OPTIONS', t0)
    assert a.registers('alice', t0) == []
    assert not a.has_binding('alice')
    assert serreg_authorized(a, t0) == []

    # the reason: in serreg json, in serreg, in one log line
    acc = tier_account(bs.status(), 0)
    assert acc['state'] in ('dead', 'failed') and acc['answer'] == \
        REFUSED, acc
    assert REFUSED in bs.command('serreg')['data']
    if REFUSED == SELF_SIGNED:
        assert dead_lines(bs, a) == ['TLS certificate not verified: '
                                     'self-signed certificate']
    assert ('serreg: tier 0 -> 1 (tier failed: %s)' % REFUSED) in \
        bs.log()


def test_tls_wrong_host_is_dead_and_never_failed_back_to(
        registrars, baresip, tmp_path):
    ca = TestCA(str(tmp_path / 'ca'))
    # signed by the CA baresip trusts, but for another host
    a, = registrars(1, tls=ca.issue('a', ips=('127.0.0.2',),
                                    dns=('other.example.org',)))
    b, = registrars(1, tls=ca.issue('b'))
    t0 = time.time()
    bs = baresip([tls_line('alice', a, prio=0, fbregint=2),
                  tls_line('alice', b, prio=1)],
                 FAST + ['sip_cafile ' + ca.cert])

    mv = bs.wait_move(1, MOVE)
    assert mv, bs.moves(t0)
    assert (mv[-1]['from'], mv[-1]['answer']) == ('0', WRONG_HOST)
    assert wait_until(lambda: b.has_binding('alice'), MOVE)
    t_move = mv[0]['_time']

    # Cisco mode: tier 0 is probed and answers (401 challenges), but a
    # probe that fails verification sends no credentials and counts as
    # dead, so serreg never moves back with failback_hold 1
    assert wait_until(lambda: len(a.probes('alice', t_move)) >= 3, 10)
    time.sleep(1)
    assert [m['to'] for m in bs.moves(t_move)] == ['1']
    assert bs.status()['current'] == 1
    assert a.registers('alice', t0) == []
    assert not a.has_binding('alice')
    assert serreg_authorized(a, t0) == []
    assert all(r.answer == 401 for r in a.probes('alice', t_move)
               if r.answer is not None)

    acc = tier_account(bs.status(), 0)
    assert (acc['role'], acc['state'], acc['answer']) == \
        ('standby', 'dead', WRONG_HOST), acc
    # one log line, however many probes
    assert dead_lines(bs, a) == ['TLS certificate not verified: '
                                 'IP address mismatch']


def test_tls_uanew_into_the_tier_in_use_is_gated(registrars, baresip,
                                                  tmp_path):
    """An account added to the tier in use registers inside its own
    REGISTERING event; a TLS one is parked there and waits for its
    TLS check."""
    ca = TestCA(str(tmp_path / 'ca'))
    u, = registrars(1)
    good, = registrars(1, tls=ca.issue('good'))
    bad, = registrars(1, tls=ca.self_signed('bad'))
    t0 = time.time()
    bs = baresip([account_line('alice', u, prio=0)],
                 FAST + ['sip_cafile ' + ca.cert])
    assert wait_until(lambda: u.has_binding('alice'), MOVE)

    r = bs.command('uanew', tls_line('alice', bad, prio=0))
    assert r['ok'], r
    r = bs.command('uanew', tls_line('alice', good, prio=0))
    assert r['ok'], r

    assert wait_until(lambda: good.has_binding('alice'), MOVE)
    assert wait_until(lambda: tier_account_of(bs, tls_aor('alice', bad))
                      ['answer'] == REFUSED, 5)
    time.sleep(1)
    assert bad.registers('alice', t0) == []
    assert not bad.has_binding('alice')
    # the tier still works: the other two accounts are registered
    st = bs.status()
    assert st['current'] == 0
    assert tier_account_of(bs, tls_aor('alice', good))['state'] == \
        'registered'
    assert u.has_binding('alice')
    if REFUSED == SELF_SIGNED:
        assert dead_lines(bs, bad) == ['TLS certificate not verified: '
                                       'self-signed certificate']


def tier_account_of(bs, aor_):
    """The account with this AoR in `serreg json`."""
    accs = [x for x in bs.status()['accounts'] if x['aor'] == aor_]
    assert len(accs) == 1, accs
    return accs[0]


def test_tls_without_sip_cafile_uses_the_system_trust_store(
        registrars, baresip, tmp_path):
    """No sip_cafile: OpenSSL's default trust store, which does not know
    the test CA, so even its good certificate is refused."""
    ca = TestCA(str(tmp_path / 'ca'))
    a, = registrars(1, tls=ca.issue('a'))
    u, = registrars(1)
    t0 = time.time()
    bs = baresip([tls_line('alice', a, prio=0),
                  account_line('alice', u, prio=1)], FAST)

    mv = bs.wait_move(1, MOVE)
    assert mv and mv[-1]['answer'] == ('TLS certificate not verified: '
                                       'unable to get local issuer '
                                       'certificate'), bs.moves(t0)
    assert wait_until(lambda: u.has_binding('alice'), MOVE)
    assert a.registers('alice', t0) == []
    assert ('counts as dead: TLS certificate not verified: unable to get '
            'local issuer certificate (CA file none, system trust store)'
            in bs.log())


def test_tls_server_set_dns_only_certificate(registrars, baresip, dns,
                                             tmp_path):
    """A TLS registrar named by a domain (SRV _sips._tcp, two servers)
    whose certificates name the domain only (no IP address): RFC 5922
    matches the certificate against the domain of the SIP URI.  Once
    serreg routes the account through a server of the set (a route to
    its address, the first included), its probes and checks must still
    verify against the domain, not against that address: the set's
    servers stay alive, the account stays registered on tier 0, and
    when the first server is killed it moves to the second, not to
    tier 1."""
    domain = 'tier0.example'
    ca = TestCA(str(tmp_path / 'ca'))
    cert = ca.issue('tier0', ips=(), dns=(domain,))
    r1, r2 = registrars(2, tls=cert)
    r3, = registrars(1, tls=ca.issue('r3'))
    d = dns(ttl=1)
    d.srv(domain, [('r1.' + domain, r1.tls_port, 10, 10),
                   ('r2.' + domain, r2.tls_port, 20, 10)],
          proto='tcp', service='sips')
    d.apply()
    bs = baresip(['<sip:alice@%s;transport=tls>;auth_pass=%s;regint=20;'
                  'prio=0;fbregint=2' % (domain, rig.PASSWORD),
                  tls_line('alice', r3, prio=1, fbregint=2, regint=20)],
                 FAST + ['sip_cafile ' + ca.cert, d.config_line,
                         'serreg_check_interval 2'])
    alice = 'sip:alice@' + domain
    servers = ('serreg: %s: servers tls:%s:%d, tls:%s:%d'
               % (alice, HOST, r1.tls_port, HOST, r2.tls_port))
    assert wait_until(lambda: servers in bs.log(), MOVE), bs.log()[-3000:]
    assert wait_until(lambda: r1.has_binding('alice'), MOVE), (
        bs.log()[-3000:])

    # checks through the server's address, over several check periods:
    # verified against the domain, never counted dead
    time.sleep(8)
    assert 'counts as dead' not in bs.log(), bs.log()[-3000:]
    acc = [x for x in bs.status()['accounts'] if x['aor'] == alice][0]
    assert acc['state'] == 'registered', acc
    assert r1.has_binding('alice')
    assert bs.moves(0) == [] or all(m['to'] == '0' for m in bs.moves(0))
    assert not r3.has_binding('alice')

    # the first server killed: the second, verified, takes it
    t_k = time.time()
    r1.stop()
    assert wait_until(lambda: r2.has_binding('alice'), MOVE), (
        bs.log()[-3000:])
    assert [m for m in bs.moves(t_k)] == [], bs.moves(t_k)
    assert 'counts as dead' not in bs.log(), bs.log()[-3000:]
    assert not r3.has_binding('alice')
