"""Liveness of the tier in use, beyond upstream: R20-R22 and R34.

Against real baresip and kamailio.  regint=600 everywhere: a refresh
(at 90 %, 9 minutes) can never be what found a fault here.
"""

import os
import subprocess
import time

import pytest

from rig import (DEFAULT_REGINT, HOST, TEMPLATE, account_line, cut_tcp,
                 free_port, release_port, wait_until)
from test_platform import netchange_so  # noqa: F401 (fixture)
from test_serial import bound

HERE = os.path.dirname(os.path.abspath(__file__))

# every test against registrars that challenge REGISTER and that do not
AUTH_MODES = ('auth', 'noauth')

SLOW_REFRESH = 600


def tcp_accounts(a, b):
    """alice over TCP at a (prio 0) and b (prio 1), regint 600."""
    return [account_line('alice', k, prio=i, transport='tcp',
                         regint=SLOW_REFRESH) for i, k in enumerate((a, b))]


def test_r21_tcp_registrar_killed_is_a_failure_at_once(registrars,
                                                       baresip):
    """No check configured: the watch of the TCP connection alone finds
    a killed registrar, the check on a new connection is refused."""
    a, b = registrars(2)
    bs = baresip(tcp_accounts(a, b),
                 ['serreg_probe_timeout 2'])
    assert wait_until(lambda: bound([a, b]) == [0], 5)
    # the flow request that finds the connection (one OPTIONS)
    assert wait_until(lambda: a.requests(method='OPTIONS'), 5)
    time.sleep(0.5)

    t0 = time.time()
    a.stop()
    mv = bs.wait_move(1, 5, t0)
    assert mv, bs.log()[-3000:]
    assert wait_until(lambda: b.has_binding('alice'), 5)
    gap = b.registers('alice', t0)[0].time - t0
    # refused: the new connection of the recovery REGISTER; or, when a
    # child of the dying kamailio still held the listening socket, the
    # connection was accepted by the kernel and never answered, and the
    # recovery's deadline (the probe timeout, 2 s) failed it
    assert mv[-1]['answer'] in ('Connection refused',
                                'Connection timed out'), mv
    assert gap <= 2 + 1, gap
    assert 'connection to the registrar closed' in bs.log()
    print('failover gap, TCP registrar killed, regint=600: %.2f s' % gap)


def idle_closing_template(tmp_path, seconds):
    """The rig's kamailio.cfg, closing TCP connections idle for
    `seconds` (as registrars behind NATs often do)."""
    with open(TEMPLATE) as f:
        text = f.read()
    assert 'tcp_connection_lifetime=3605' in text
    path = tmp_path / 'kamailio-idle.cfg.tmpl'
    path.write_text(text.replace('tcp_connection_lifetime=3605',
                                 'tcp_connection_lifetime=%d' % seconds))
    return str(path)


def test_r21_idle_close_by_live_registrar_is_not_a_failure(
        registrars, baresip, tmp_path, rig_session):
    """A live registrar that closes an idle connection: the binding named
    that connection, so serreg registers again at once on a new one
    (flow recovery, RFC 5626 4.4.1): no move, the new connection is
    watched, and recoveries are at least SR_RECOVER_GAP (10 s) apart."""
    a, = registrars(1, template=idle_closing_template(tmp_path, 2))
    b, = registrars(1)
    t0 = time.time()
    bs = baresip(tcp_accounts(a, b),
                 ['serreg_probe_timeout 2'])
    assert wait_until(lambda: bound([a, b]) == [0], 5)

    # the flow request, then kamailio closes the idle connection (its
    # timer runs every few seconds) and serreg registers again on a new
    # one, whose flow request finds the connection to watch
    first = a.registers('alice')[0].time
    assert wait_until(lambda: len(a.registers('alice', first + 0.5)) >= 1,
                      25), bs.log()[-3000:]
    assert wait_until(lambda: len(a.requests(method='OPTIONS')) >= 2, 10)
    assert 'connection to the registrar closed' in bs.log()
    assert 'registering again on a new connection' in bs.log()
    time.sleep(1)
    assert [m for m in bs.moves(t0) if m['reason'] != 'start'] == []
    st = bs.status()
    assert st['current'] == 0 and st['mem']['watches'] == 1, st
    assert bound([a, b]) == [0]
    # never a flood: the registrar drops the connection every ~2 s
    t1 = time.time()
    time.sleep(12)
    again = [r for r in a.registers('alice', t1) if not r.retrans]
    assert 1 <= len({r.callid for r in again}) <= 3, again
    assert bound([a, b]) == [0]

    # a binding the registrar lost is back at the next recovery, not at
    # the next refresh (regint=600); until then serreg cannot know
    lost = rig_session.audit.expect(
        aor='alice', registrar=a, rule=1,
        reason='drop_bindings: the binding is back at the next flow '
               'recovery (recoveries at least 10 s apart)')
    a.drop_bindings('alice')
    assert not a.has_binding('alice')
    assert wait_until(lambda: a.has_binding('alice'), 15), bs.log()[-2000:]
    lost.end()


def test_r21_udp_account_sends_one_flow_request(registrars, baresip):
    """Over UDP there is no connection: one OPTIONS learns it, and the
    refreshes send no more."""
    a, b = registrars(2)
    bs = baresip([account_line('alice', a, prio=0, regint=4),
                  account_line('alice', b, prio=1, regint=4)],
                 ['serreg_probe_timeout 2'])
    assert wait_until(lambda: bound([a, b]) == [0], 5)
    time.sleep(9)
    # three or more refreshes, one OPTIONS
    assert len(a.registers('alice')) >= 3
    assert len(a.requests(method='OPTIONS')) == 1
    st = bs.status()
    assert st['current'] == 0 and st['mem']['watches'] == 0, st


class Callee:
    """sipp's built-in UAS on 127.0.0.1: answers one INVITE with 200 and
    keeps the call until the BYE.  Stopped by its PID."""

    def __init__(self, tmp_path):
        self.port = free_port()
        self.log = open(str(tmp_path / 'sipp.log'), 'wb')
        self.proc = subprocess.Popen(
            ['sipp', '-sn', 'uas', '-i', HOST, '-p', str(self.port),
             '-m', '1'],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            cwd=str(tmp_path))
        time.sleep(0.5)

    @property
    def uri(self):
        return 'sip:callee@%s:%d' % (HOST, self.port)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        release_port(self.port)


@pytest.fixture
def callee(tmp_path):
    c = Callee(tmp_path)
    yield c
    c.close()


def test_r34_call_holds_failback_until_it_ends(registrars, baresip,
                                                callee):
    """Cisco mode: the primary comes back during a call on the backup
    UA; the failback waits for the hangup, then goes at once."""
    a, b = registrars(2)
    bs = baresip([account_line('alice', a, prio=0, fbregint=2),
                  account_line('alice', b, prio=1, fbregint=2)],
                 ['serreg_probe_timeout 2', 'serreg_failback_hold 1',
                  'module g711.so'])
    assert wait_until(lambda: bound([a, b]) == [0], 5)

    a.set_reply(503)
    assert bs.wait_move(1, 15), bs.log()[-3000:]
    # (a answers 503 to its un-REGISTER too: its binding goes when it
    # expires, regint after its last 200)
    assert wait_until(lambda: bound([a, b]) == [1], DEFAULT_REGINT + 2)

    t_call = time.time()
    bs.command('dial', callee.uri)
    assert bs.wait_event(lambda e: e.get('type') == 'CALL_ESTABLISHED',
                         10, t_call), bs.log()[-3000:]

    t_back = time.time()
    a.set_reply(None)
    # probes find it alive; the failback is held while the call lasts
    assert wait_until(lambda: bs.status()['failback_held'], 8)
    time.sleep(4)
    assert len(a.probes('alice', t_back)) >= 2
    assert a.registers('alice', t_back) == []
    assert bs.moves(t_back) == []
    assert bound([a, b]) == [1]
    assert 'failback waits for a call' in bs.command('serreg')['data']

    t_hang = time.time()
    bs.command('hangup')
    mv = bs.wait_move(0, 5, t_hang)
    assert mv and mv[-1]['reason'] == 'failback', bs.log()[-3000:]
    assert wait_until(lambda: bound([a, b]) == [0], 5)
    assert not bs.status()['failback_held']
    print('failback %.2f s after the hangup' % (mv[-1]['_time'] - t_hang))




def tcp_pair(registrars, baresip, netchange_so,
             serreg_line='module serreg.so'):
    """alice over TCP at a (prio 0) and b (prio 1), regint 600, with the
    test_netchange command (test_platform.py); a bound and its
    connection watched.  (a, b, bs, t0)"""
    a, b = registrars(2)
    t0 = time.time()
    bs = baresip(tcp_accounts(a, b),
                 ['serreg_probe_timeout 2', 'module_app netchange.so'],
                 start=False, serreg_line=serreg_line)
    os.symlink(str(netchange_so), os.path.join(bs.moddir, 'netchange.so'))
    bs.start(hold=[a, b])
    assert wait_until(lambda: bound([a, b]) == [0], 5)
    assert wait_until(lambda: bs.status()['mem']['watches'] == 1, 5)
    time.sleep(0.5)
    return a, b, bs, t0


def reset_is_found(a, b, bs, t0, within):
    """A reset of alice's connection to a is found: she registers again
    there on a new connection within `within` s, no move since t0."""
    t = time.time()
    assert cut_tcp(a) >= 1
    assert wait_until(lambda: a.registers('alice', t), within), \
        bs.log()[-3000:]
    assert wait_until(lambda: a.has_binding('alice'), 3)
    assert 'connection to the registrar closed' in bs.log()
    assert [m for m in bs.moves(t0) if m['reason'] != 'start'] == []
    assert bound([a, b]) == [0]


@pytest.mark.parametrize('line', ['module serreg.so',
                                  'module_app serreg.so'])
def test_r21_net_change_watches_the_new_connection(registrars, baresip,
                                                    netchange_so, line):
    """A network change (baresip flushes libre's transports and
    connections, and registers every UA again): libre frees the old
    connection's keep-alives without calling them, so the watch is over
    without a word.  The engine ends it at baresip's own REGISTERING,
    the flow request after the REGISTER_OK finds the new connection and
    its watch finds a reset at once.  (Before 5c87dec the engine kept
    the old watch for good: a reset after a net change was found at the
    next refresh only.)  Loaded with module_app, serreg adopts UAs that
    baresip registers already: the REGISTER the engine asks for the
    chosen tier finds it registering and sends nothing, so no
    REGISTERING follows it.  Before (glue review, issue 17), the engine
    then took the net change's REGISTERING for that REGISTER's
    (gen_ours), and kept the old watch: no flow request after it."""
    a, b, bs, t0 = tcp_pair(registrars, baresip, netchange_so, line)

    t1 = time.time()
    assert bs.command('test_netchange')['ok']
    assert wait_until(lambda: a.registers('alice', t1), 3)
    assert wait_until(lambda: a.requests(method='OPTIONS', since=t1), 3)
    assert wait_until(lambda: bs.status()['mem']['watches'] == 1, 3)
    assert 'Address already in use' not in bs.log()
    time.sleep(0.5)
    reset_is_found(a, b, bs, t0, 3)



@pytest.fixture
def kafail(tmp_path):
    """(LD_PRELOAD path, flag file) of the shim that makes serreg's
    watches fail to start (shims/kafail.c)."""
    so = str(tmp_path / 'kafail.so')
    subprocess.run(['gcc', '-shared', '-fPIC', '-O1', '-o', so,
                    os.path.join(HERE, 'shims', 'kafail.c'), '-ldl'],
                   check=True, timeout=60)
    return so, str(tmp_path / 'kafail.on')


def test_r21_watch_that_cannot_start_is_a_lost_connection(registrars,
                                                          baresip,
                                                          kafail):
    """The watch of a TCP account cannot start: libre says ENOTCONN, as
    when the connection closed between the answer and the watch (shim).
    The engine hears that as a lost connection
    (sr_account_flow_closed): it registers again (flow recovery, at
    most every SR_RECOVER_GAP, 10 s) on a connection that answers, and
    asks for the watch again; once it starts, a reset is found.  Before
    (glue review, issue 17): only a warning, the engine counted the
    connection as watched for good: a reset connection was found at
    the next refresh only (regint 600, no check), the registrar got
    nothing."""
    so, flag = kafail
    open(flag, 'w').close()
    a, b = registrars(2)
    t0 = time.time()
    bs = baresip(tcp_accounts(a, b),
                 ['serreg_probe_timeout 2'],
                 env={'LD_PRELOAD': so, 'SERREG_KAFAIL_FILE': flag})
    assert wait_until(lambda: bound([a, b]) == [0], 5)
    assert wait_until(lambda: 'connection not watched' in bs.log(), 5), \
        bs.log()[-3000:]
    os.unlink(flag)
    # the watch, at the latest after the next recovery
    watched = wait_until(lambda: bs.status()['mem']['watches'] == 1, 12)
    time.sleep(0.5)

    # a reset is found: the account registers again on a new
    # connection (at the next recovery, 10 s after the last)
    assert watched, bs.status()
    reset_is_found(a, b, bs, t0, 12)
