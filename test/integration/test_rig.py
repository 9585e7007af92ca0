"""Self-tests of the integration rig (rig.py, conftest.py), WITHOUT serreg.

Plain baresip 1.0.0 against real kamailio registrars: the port
allocator, registrar lifecycle (start, stop, freeze, restart), fault
injection, the registrar-side truth (bindings over kamcmd, the request
log) and the ctrl_tcp client.  Each test takes a few seconds at most.
"""

import os
import socket
import subprocess
import sys
import time

import pytest

import rig
from rig import account_line, aor, sip_request, wait_until

REGINT = 60


def plain(baresip, accounts=(), **kw):
    """A started baresip without serreg."""
    return baresip(accounts, serreg=False, **kw)


def alive_with(text):
    """PIDs of live (non-zombie) processes whose command line has text."""
    pids = []
    for name in os.listdir('/proc'):
        try:
            with open('/proc/%s/cmdline' % name, 'rb') as f:
                cmd = f.read().replace(b'\0', b' ').decode(errors='replace')
            with open('/proc/%s/stat' % name) as f:
                state = f.read().rsplit(')', 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if text in cmd and state != 'Z':
            pids.append(int(name))
    return pids


def test_helpers():
    line = account_line('alice', 20004, prio=1, fbregint=5, regint=60,
                        transport='tcp')
    assert line == ('<sip:alice@127.0.0.1:20004;transport=tcp>;'
                    'auth_pass=testpass;regint=60;prio=1;fbregint=5')
    assert account_line('bob', '127.0.0.1:20008', extra='x=1') == \
        '<sip:bob@127.0.0.1:20008>;auth_pass=testpass;regint=10;x=1'
    assert aor('bob', 20008) == 'sip:bob@127.0.0.1:20008'

    calls = []
    t0 = time.monotonic()
    assert wait_until(lambda: calls.append(1), 0.3, 0.05) is None
    assert 0.3 <= time.monotonic() - t0 < 1.0 and len(calls) <= 9
    assert wait_until(lambda: 7, 5) == 7


def test_bindings_parser(tmp_path, monkeypatch):
    k = rig.Kamailio(str(tmp_path), 'fake')
    try:
        answers = iter([
            rig.RigError('kamcmd ul.lookup location x: error: 500 - AOR '
                         'not found in location table'),
            rig.RigError('kamcmd ul.lookup location x: error: 500 - AOR '
                         'has no contacts'),
            '{\n\tAoR: x\n\tContacts: {\n\t\tContact: {\n'
            '\t\t\tAddress: sip:x-1@127.0.0.1:5;transport=tcp\n'
            '\t\t\tExpires: 42\n\t\t}\n\t\tContact: {\n'
            '\t\t\tAddress: sip:x-2@127.0.0.1:6\n\t\t\tExpires: -3\n'
            '\t\t}\n\t\tContact: {\n\t\t\tAddress: sip:x-3@h\n'
            '\t\t\tExpires: permanent\n\t\t}\n\t}\n}\n'])

        def fake_rpc(*args, **kw):
            assert args == ('ul.lookup', 'location', 'x')
            a = next(answers)
            if isinstance(a, Exception):
                raise a
            return a
        monkeypatch.setattr(k, 'rpc', fake_rpc)
        assert k.bindings('sip:x@127.0.0.1:9;transport=tcp') == []
        assert not k.has_binding('x')
        assert k.bindings('x') == [
            ('sip:x-1@127.0.0.1:5;transport=tcp', 42), ('sip:x-3@h', None)]
    finally:
        k.close()


def test_port_allocator():
    blocks = [rig.free_port_block() for _ in range(20)]
    ctrl = [rig.free_tcp_port() for _ in range(10)]
    try:
        assert all(p % 4 == 0 for p in blocks)
        srt = sorted(blocks)
        # at least 2 unused ports between any two SIP ports (P, P+1)
        assert all(b - a >= 4 for a, b in zip(srt, srt[1:]))
        assert len(set(ctrl)) == len(ctrl)
        assert not set(ctrl) & {q for p in blocks for q in (p, p + 1)}
        for p in blocks:
            for q in (p, p + 1):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    s = socket.socket(socket.AF_INET, kind)
                    s.bind(('127.0.0.1', q))
                    s.close()
        # another process cannot lease a port this one holds
        code = ('import sys; sys.path.insert(0, %r); import rig; '
                'print(rig._lease(%d), rig._lease(%d))'
                % (rig.HERE, blocks[0], blocks[0] + 1))
        out = subprocess.run([sys.executable, '-c', code],
                             capture_output=True, text=True, timeout=30)
        assert out.stdout.split() == ['False', 'True'], out
    finally:
        for p in blocks + ctrl:
            rig.release_port(p)
    assert rig._lease(blocks[0])
    rig.release_port(blocks[0])


def test_lease_port_given():
    """lease_port(P, hosts): a given port, leased only if free for UDP
    and TCP on every address (a listener on one of them: not), once;
    TIME_WAIT left by a closed connection does not count."""
    p = rig.free_port_block((rig.HOST, rig.HOST2))
    rig.release_port(p)
    lsn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        lsn.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsn.bind((rig.HOST2, p))
        lsn.listen(1)
        assert not rig.lease_port(p, (rig.HOST, rig.HOST2))
        # a connection closed by the server side first: TIME_WAIT there
        c = socket.create_connection((rig.HOST2, p), timeout=2)
        conn, _ = lsn.accept()
        conn.close()
        c.close()
    finally:
        lsn.close()
    try:
        assert rig.lease_port(p, (rig.HOST, rig.HOST2))
        assert not rig.lease_port(p, (rig.HOST, rig.HOST2))
    finally:
        rig.release_port(p)


def test_kamailio_lifecycle(registrars):
    t0 = time.monotonic()
    (a,) = registrars(1)
    assert time.monotonic() - t0 < 5
    print('kamailio start: %.3f s' % a.start_seconds)
    assert 'config file ok' in a.check()
    # only its own run directory is used
    assert os.path.exists(a.pidfile) and os.path.exists(a.sock)
    assert a.sock.startswith(a.rundir) or len(a.rundir) > 80
    assert len(a._members()) >= 2          # main process and children

    assert sip_request(a).code == 200
    assert sip_request(a, transport='tcp').code == 200
    assert sip_request(a, 'REGISTER', 'x', 60).code == 401

    assert sorted(alive_with(a.cfg)) == sorted(a._members())
    a.stop()
    assert not a.running and a._members() == []
    assert alive_with(a.cfg) == []
    assert sip_request(a, timeout=0.5) is None
    with pytest.raises(rig.RegistrarDown):
        a.has_binding('alice')
    # the request log stays readable
    assert [r.method for r in a.requests()] == \
        ['OPTIONS', 'OPTIONS', 'REGISTER']

    a.restart()
    assert sip_request(a).code == 200
    assert a.bindings('alice') == []


def test_fault_injection(registrars):
    (a,) = registrars(1)
    t0 = time.time()
    a.set_reply(503, retry_after=5)
    r = sip_request(a, 'REGISTER', 'x', 60)
    assert (r.code, r.reason) == (503, 'Service Unavailable')
    assert r.headers['retry-after'] == '5'
    assert sip_request(a).code == 503

    a.set_reply(403, options=False)
    assert sip_request(a, 'REGISTER', 'x', 0).code == 403
    r = sip_request(a)
    assert r.code == 200 and 'retry-after' not in r.headers

    a.set_reply(480, reason='Go Away', register=False)
    r = sip_request(a, transport='tcp')
    assert (r.code, r.reason) == (480, 'Go Away')
    assert sip_request(a, transport='tcp').code == 480
    assert sip_request(a, 'REGISTER', 'x', 60).code == 401

    a.set_silent()
    assert sip_request(a, timeout=0.5) is None
    assert sip_request(a, 'REGISTER', 'x', 0, timeout=0.5) is None
    assert a.shv('drop') == 1

    a.set_reply(None)
    assert sip_request(a).code == 200
    assert sip_request(a, 'REGISTER', 'x', 60).code == 401

    # the reply line is logged just after the reply is sent
    assert wait_until(lambda: a.requests(since=t0)[-1].answer, 2)
    got = [(r.method, r.expires, r.answer) for r in a.requests(since=t0)]
    assert got == [
        ('REGISTER', 60, 503), ('OPTIONS', None, 503),
        ('REGISTER', 0, 403), ('OPTIONS', None, 200),
        ('OPTIONS', None, 480), ('OPTIONS', None, 480),
        ('REGISTER', 60, 401),
        ('OPTIONS', None, None), ('REGISTER', 0, None),
        ('OPTIONS', None, 200), ('REGISTER', 60, 401)], got
    assert [r.proto for r in a.requests('rig', 'OPTIONS')][2:4] == \
        ['tcp', 'tcp']
    with pytest.raises(ValueError):
        a.set_reply(200)


def test_two_accounts_register(registrars, baresip):
    a, b = registrars(2)
    t0 = time.time()
    bs = plain(baresip, [account_line('alice', a, regint=REGINT),
                         account_line('bob', b, regint=REGINT)])
    print('baresip start (to ctrl_tcp): %.3f s' % bs.start_seconds)

    assert wait_until(lambda: a.has_binding('alice')
                      and b.has_binding(aor('bob', b)), 5)
    (bind,) = a.bindings(aor('alice', a))
    assert bind.uri.startswith('sip:alice-') and \
        bind.uri.endswith('@127.0.0.1:%d' % bs.sip_port)
    assert REGINT - 5 <= bind.expires <= REGINT
    assert not b.has_binding('alice') and not a.has_binding('bob')

    for user, reg in (('alice', a), ('bob', b)):
        ev = bs.wait_event(lambda e, x=aor(user, reg):
                           e.get('type') == 'REGISTER_OK'
                           and e.get('accountaor') == x, 5)
        assert ev and ev['param'] == '200 OK' and ev['_time'] >= t0
        # digest: challenged first, then the resend with credentials
        regs = reg.registers(user)
        assert [(r.authorized, r.answer, r.retry) for r in regs] == \
            [(False, 401, False), (True, 200, True)], regs
        assert all(r.expires == REGINT and r.proto == 'udp' and
                   r.aor == aor(user, reg) for r in regs)
        assert regs[0].callid == regs[1].callid
        assert regs[1].cseq == regs[0].cseq + 1
        assert reg.probes(user) == []
    assert len(bs.events('REGISTER_OK')) == 2
    assert bs.events(aor=aor('bob', b))[-1]['type'] == 'REGISTER_OK'

    r = bs.command('reginfo')
    assert r['ok'] and 'sip:alice@' in r['data']
    r = bs.command('nosuchcommand')
    assert not r['ok'] and 'not found' in r['data']

    # quit: both un-REGISTER (expires=0, credentials reused) and exit 0
    took = bs.quit(timeout=10)
    print('baresip quit: %.3f s' % took)
    assert bs.returncode == 0
    for user, reg in (('alice', a), ('bob', b)):
        assert not reg.has_binding(user)
        (p,) = reg.probes(user)
        if rig.BARESIP_VERSION == '1.0.0':
            # one un-REGISTER: challenged (401), resent with credentials
            assert (p.expires, p.authorized, p.answer) == (0, False, 401)
            assert wait_until(lambda: p.final == 200, 2)
            assert p.resent.retry and p.resent.cseq == p.cseq + 1
        else:
            # libre 2.0.1 keeps the credentials: answered at once
            assert (p.expires, p.authorized, p.answer) == (0, True, 200)
    assert sorted(os.listdir(bs.confdir)) == \
        ['accounts', 'baresip.log', 'config', 'modules', 'uuid']


def test_tcp_account(registrars, baresip):
    (a,) = registrars(1)
    bs = plain(baresip, [account_line('carol', a, regint=REGINT,
                                      transport='tcp')])
    ev = bs.wait_event('REGISTER_OK', 5)
    assert ev and ev['accountaor'] == aor('carol', a)
    (bind,) = a.bindings('carol')
    assert bind.uri.endswith(';transport=tcp')
    assert {r.proto for r in a.registers('carol')} == {'tcp'}


def test_503_with_retry_after_on_uanew(registrars, baresip):
    (a,) = registrars(1)
    bs = plain(baresip)
    a.set_reply(503, retry_after=5)
    t0 = time.time()
    r = bs.command('uanew', account_line('dave', a, regint=REGINT))
    assert r['ok'], r
    ev = bs.wait_event(lambda e: e.get('type') == 'REGISTER_FAIL'
                       and e.get('accountaor') == aor('dave', a), 5, t0)
    assert ev and '503' in ev['param'], bs.events()
    assert not a.has_binding('dave')
    (req,) = a.registers('dave')
    assert (req.answer, req.authorized) == (503, False)


def test_403_on_uanew(registrars, baresip):
    (a,) = registrars(1)
    bs = plain(baresip)
    a.set_reply(403)
    r = bs.command('uanew', account_line('erin', a, regint=REGINT))
    assert r['ok'], r
    ev = bs.wait_event('REGISTER_FAIL', 5)
    assert ev and ev['param'].startswith('403'), ev
    assert not a.has_binding('erin')


def test_freeze_and_thaw(registrars, baresip):
    (a,) = registrars(1)
    bs = plain(baresip)
    a.freeze()
    t0 = time.time()
    assert bs.command('uanew', account_line('fred', a,
                                            regint=REGINT))['ok']
    time.sleep(1.5)
    # frozen: nothing logged, nothing answered, kamcmd refused
    assert a.requests() == []
    assert bs.events('REGISTER_OK') == []
    with pytest.raises(rig.RegistrarFrozen):
        a.has_binding('fred')

    t1 = time.time()
    a.thaw()
    ev = bs.wait_event('REGISTER_OK', 5)
    assert ev and ev['_time'] >= t1
    assert a.has_binding('fred')
    reqs = a.requests('fred')
    # the queued first REGISTER and its UDP retransmission(s) are
    # logged only now, all at thaw time, and all answered
    assert all(r.time >= t1 and r.answer for r in reqs), reqs
    assert [r.retrans for r in reqs if not r.authorized][:2] == \
        [False, True]
    assert len(a.registers('fred', since=t0)) == 2


def test_stopped_registrar(registrars, baresip):
    a, b = registrars(2)
    bs = plain(baresip, [account_line('gina', a, regint=REGINT),
                         account_line('gina', b, regint=REGINT,
                                      transport='tcp')])
    assert wait_until(lambda: a.has_binding('gina')
                      and b.has_binding('gina'), 5)
    a.stop()
    with pytest.raises(rig.RegistrarDown) as err:
        a.has_binding('gina')
    assert 'not running' in str(err.value)
    assert b.has_binding('gina')
    assert len(a.registers('gina')) == 2
    assert sip_request(a, timeout=0.5) is None

    # a restarted registrar is a fresh one on the same port
    a.restart()
    assert not a.has_binding('gina')
    assert sip_request(a).code == 200
    assert len(a.registers('gina')) == 2       # the log is kept
    # (quit now is quick; with a dead UDP registrar it would take 32 s)
    assert bs.quit(timeout=10) < 5
    assert not b.has_binding('gina')


def test_registrar_on_second_loopback_address(registrars, baresip):
    """A registrar on 127.0.0.2 (Kamailio(host=HOST2)) takes REGISTERs
    of a plain baresip on 127.0.0.1 over UDP and TCP (account_line/aor
    name its address), answers the rig's requests, its bindings are
    read over kamcmd, a call through it (rig.call) reaches baresip, and
    freeze/stop/restart work on it."""
    (k,) = registrars(1, host=rig.HOST2)
    assert k.host == rig.HOST2 and '127.0.0.2:%d' % k.port in repr(k)
    with open(k.cfg) as f:
        cfg = f.read()
    assert 'listen=udp:127.0.0.2:%d\n' % k.port in cfg
    assert 'listen=tcp:127.0.0.2:%d\n' % k.port in cfg
    assert '127.0.0.1' not in cfg
    assert aor('alice', k) == 'sip:alice@127.0.0.2:%d' % k.port
    assert sip_request(k).code == 200
    assert sip_request(k, transport='tcp').code == 200
    assert sip_request(k, 'REGISTER', expires=0).code == 401
    assert [r.source.split(':')[0] for r in k.requests()] == \
        ['127.0.0.1'] * 3

    bs = plain(baresip, [account_line('alice', k, regint=REGINT),
                         account_line('bob', k, regint=REGINT,
                                      transport='tcp')],
               config=rig.CALLEE_CONFIG)
    assert wait_until(lambda: k.has_binding('alice')
                      and k.has_binding('bob'), 5), bs.log()[-2000:]
    for user, proto in (('alice', 'udp'), ('bob', 'tcp')):
        ev = bs.wait_event(lambda e, x=aor(user, k):
                           e.get('type') == 'REGISTER_OK'
                           and e.get('accountaor') == x, 5)
        assert ev and ev['param'] == '200 OK', bs.events()
        # (kamailio logs its answer just after sending it: poll)
        assert wait_until(lambda u=user: [r.final for r in
                                          k.registers(u)][-1:] == [200],
                          2), k.registers(user)
        regs = k.registers(user)
        assert {r.proto for r in regs} == {proto}
        assert {r.aor for r in regs} == {aor(user, k)}
        assert {r.source.split(':')[0] for r in regs} == {'127.0.0.1'}
    (bind,) = k.bindings('alice')
    assert bind.uri.endswith('@127.0.0.1:%d' % bs.sip_port), bind

    res = rig.call(k, 'alice', bs, timeout=10)
    assert res.event is not None and res.rc == 0, res.log[-2000:]
    assert res.event['accountaor'] == aor('alice', k)
    assert [r for r in k.requests() if r.method == 'INVITE']

    # bob's TCP connection is one of 127.0.0.2:P: cut_tcp(k) finds it
    assert rig.cut_tcp(k) == 1
    assert rig.cut_tcp(k.port) == 0         # HOST:P: none
    k.freeze()
    with pytest.raises(rig.RegistrarFrozen):
        k.has_binding('alice')
    assert sip_request(k, timeout=0.5) is None
    k.thaw()
    assert sip_request(k).code == 200
    k.restart()
    assert not k.has_binding('alice')
    assert sip_request(k).code == 200


def test_two_registrars_on_one_port(registrars, baresip):
    """registrars(hosts=(HOST, HOST2)): two registrars on the same port
    at 127.0.0.1 and 127.0.0.2, each its own kamailio; a REGISTER to one
    address reaches that one only, and stopping one leaves the other
    serving."""
    a, b = registrars(hosts=(rig.HOST, rig.HOST2))
    assert a.port == b.port and (a.host, b.host) == (rig.HOST, rig.HOST2)
    assert a.rundir != b.rundir and a.pid != b.pid
    bs = plain(baresip, [account_line('alice', a, regint=REGINT),
                         account_line('bob', b, regint=REGINT,
                                      transport='tcp')])
    assert wait_until(lambda: a.has_binding('alice')
                      and b.has_binding('bob'), 5), bs.log()[-2000:]
    assert not a.has_binding('bob') and not b.has_binding('alice')
    assert a.registers('bob') == [] and b.registers('alice') == []
    # cut_tcp by address: bob's connection is 127.0.0.2's only
    assert rig.cut_tcp(a) == 0
    assert rig.cut_tcp(b) == 1
    a.stop()
    assert sip_request(a, timeout=0.5) is None
    assert sip_request(b).code == 200 and b.has_binding('bob')
    a.start()
    assert sip_request(a).code == 200
    with pytest.raises(ValueError):
        registrars(3, hosts=(rig.HOST, rig.HOST2))


def test_teardown_heals_registrars_and_is_quick(tmp_path):
    import conftest
    s = conftest.RigSession(tmp_path)
    try:
        a, b, c = s.registrars(3)
        bs = s.baresip([account_line('hal', a, regint=REGINT),
                        account_line('hal', b, regint=REGINT),
                        account_line('hal', c, regint=REGINT,
                                     transport='tcp')], serreg=False)
        assert wait_until(lambda: all(r.has_binding('hal')
                                      for r in (a, b, c)), 5)
        a.stop()
        b.freeze()
        c.set_silent()
    finally:
        t0 = time.monotonic()
        errors = s.teardown()
    took = time.monotonic() - t0
    print('teardown: %.2f s' % took)
    assert errors == [] and took < 5
    assert bs.returncode == 0
    assert not any(r.running or r._members() for r in (a, b, c))
    assert alive_with(str(tmp_path)) == []


def test_memcheck_reports_fail(tmp_path, monkeypatch):
    """memcheck_errors: a sanitizer file or a valgrind summary with
    errors is a failure; a clean summary, none or an empty file is not."""
    b = object.__new__(rig.Baresip)
    b.confdir = str(tmp_path)
    b._killed = False
    assert b.memcheck_errors() == []
    (tmp_path / 'asan.101').write_text('')
    (tmp_path / 'valgrind.102').write_text(
        '==102== ERROR SUMMARY: 0 errors from 0 contexts\n')
    assert b.memcheck_errors() == []
    (tmp_path / 'asan.103').write_text(
        '==103==ERROR: LeakSanitizer: detected memory leaks\n')
    (tmp_path / 'valgrind.104').write_text(
        '==104==    definitely lost: 93 bytes in 1 blocks\n'
        '==104== ERROR SUMMARY: 1 errors from 1 contexts\n')
    errs = b.memcheck_errors()
    assert len(errs) == 2 and 'LeakSanitizer' in errs[0], errs
    assert 'definitely lost' in errs[1], errs
    # a valgrind that never wrote its summary, unless the rig killed it
    (tmp_path / 'valgrind.105').write_text('==105== Memcheck\n')
    assert len(b.memcheck_errors()) == 3
    b._killed = True
    assert len(b.memcheck_errors()) == 2
    # the wrapper: valgrind's argv, or libasan first in LD_PRELOAD
    monkeypatch.setattr(rig, 'MEMCHECK', 'valgrind')
    argv, env = rig.memcheck_command(str(tmp_path))
    assert argv[0] == 'valgrind' and '--error-exitcode=99' in argv
    monkeypatch.setattr(rig, 'MEMCHECK', None)
    assert rig.memcheck_command(str(tmp_path)) == ([], None)
