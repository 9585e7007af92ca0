"""pytest fixtures of the integration rig (see rig.py).

registrars(n, **kw) -> list of n started rig.Kamailio (kw: those of
    rig.Kamailio, e.g. host=rig.HOST2); registrars(hosts=(rig.HOST,
    rig.HOST2)) -> one per address, all on one port.
baresip(accounts=(), config=(), start=True, hold=None, **kw) -> a
    rig.Baresip, started unless start=False (with every registrar of
    the test held frozen until ctrl_tcp is connected, unless hold says
    otherwise); with serreg.so (built once per session with make)
    unless serreg=False.
peer(mode='ok', **opts) -> a sippeer.SipPeer (a scripted registrar).
dns(ttl=1) -> a started rig.Dns (dnsmasq: SRV/NAPTR/A of test domains).
edges(registrar, n=2) -> n started rig.EdgeProxy (RFC 5626 edges) in
    front of registrar (registrars(1, template=rig.OUTBOUND_TEMPLATE)).

The binding auditor (audit.py) runs in every test, from its first
baresip() on: about once a second it compares `serreg json` of each
serreg baresip with the location tables of the registrars its accounts
use, and fails the test at teardown when serreg says registered where
the registrar holds no binding for longer than probe timeout + 1 s
(rule 1), or a registrar keeps a binding of ours for an account serreg
does not register for longer than Timer F + probe timeout + 2 s (rule
2).  A test that causes a divergence on purpose declares it:
rig_session.audit.expect(aor=, registrar=, rule=, since=, until=,
reason=) excuses matching samples; @pytest.mark.audit_off('reason')
switches the auditor off; rig_session.audit.divergences() and .samples
are there to assert on (a divergence asserted on is taken with
d.acknowledge('reason')).  See docs/testing.md, "The binding auditor".

Everything lives in the test's tmp_path.  Teardown, in this order:
registrars are made healthy again (thawed, faults cleared, stopped
ones started again on their port, peers back to 'ok'), so that
baresip's un-REGISTERs get answers (an un-REGISTER to a dead UDP
registrar holds baresip's quit for 32 s); every baresip gets 'quit'
(SIGKILL after QUIT_TIMEOUT s); every registrar is SIGKILLed and every
peer closed, every DNS server stopped (edges are healed and stopped
with the registrars); always by the PIDs the rig started, and
the ports are released.  A baresip that does not exit within
QUIT_TIMEOUT, or died from a signal the rig did not send (a crash),
makes the test fail at teardown.  When a test fails, the tails of the
logs are printed with its report.
"""

import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import audit  # noqa: E402
import rig  # noqa: E402

QUIT_TIMEOUT = 10.0 * rig.SLOWDOWN  # [s] graceful quit, then SIGKILL
MAKE_TIMEOUT = 300      # [s]

_built = []


def build_serreg():
    """Build modules/serreg/serreg.so once per session; its path."""
    if not _built:
        subprocess.run(['make', '-C', rig.ROOT, '-s', 'all'], check=True,
                       timeout=MAKE_TIMEOUT)
        _built.append(rig.MODULE)
    if not os.path.exists(rig.MODULE):
        pytest.fail('%s missing after make' % rig.MODULE)
    return rig.MODULE


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'audit_off(reason): no binding auditor in this test '
        '(audit.py); the reason is required')
    config.addinivalue_line(
        'markers', 'auth_modes(*modes): run only in these auth modes')


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item (for the teardown)."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, 'rep_' + rep.when, rep)


class RigSession:
    """What one test started, torn down in a safe order."""

    def __init__(self, tmp_path, audit_on=True, audit_reason=''):
        self.tmp_path = tmp_path
        self.kamailios = []
        self.baresips = []
        self.peers = []
        self.dnses = []
        self.ports = []         # leased here, released at teardown
        # the binding auditor (audit.py), sampling from the first
        # baresip on
        self.audit = audit.BindingAuditor(self, on=audit_on,
                                          reason=audit_reason)

    def registrars(self, n=None, hosts=None, **kw):
        """n (default 1) new registrars, started (names reg0, reg1,
        ...); kw are rig.Kamailio's (host=, port=, template=...).

        hosts: one registrar per address (n is len(hosts)), all on the
        same port: kw's port, else one free on every address
        (rig.free_port_block(hosts)), released at teardown."""
        if hosts is not None:
            hosts = list(hosts)
            if n is not None and n != len(hosts):
                raise ValueError('registrars(%d, hosts=%r)' % (n, hosts))
            if 'host' in kw:
                raise ValueError('registrars: host= and hosts=')
            if kw.get('port') is None:
                kw['port'] = rig.free_port_block(hosts)
                self.ports.append(kw['port'])
        new = []
        for i in range(len(hosts) if hosts is not None else n or 1):
            if hosts is not None:
                kw['host'] = hosts[i]
            k = rig.Kamailio(str(self.tmp_path),
                             'reg%d' % len(self.kamailios), **kw)
            self.kamailios.append(k)
            new.append(k)
        for k in new:
            k.start()
        return new

    def baresip(self, accounts=(), config=(), start=True, hold=None,
                **kw):
        """A new baresip (confdir bs0, bs1, ...), started if start.

        hold: registrars frozen until ctrl_tcp is connected (see
        Baresip.start); None = every registrar of this test."""
        if kw.get('serreg', True) and 'module' not in kw:
            kw['module'] = build_serreg()
        b = rig.Baresip(str(self.tmp_path / ('bs%d' % len(self.baresips))),
                        accounts, config, **kw)
        self.baresips.append(b)
        self.audit.start()
        if not start:
            return b
        return b.start(hold=self.kamailios if hold is None else hold)

    def peer(self, mode='ok', **opts):
        """A new scripted SIP peer (sippeer.SipPeer), serving now."""
        import sippeer
        p = sippeer.SipPeer(mode=mode, name='peer%d' % len(self.peers),
                            **opts)
        self.peers.append(p)
        return p

    def dns(self, ttl=1, start=True, **kw):
        """A new DNS server (rig.Dns, names dns0, dns1...), started
        if start (with no records yet: add them, then apply())."""
        d = rig.Dns(str(self.tmp_path), 'dns%d' % len(self.dnses),
                    ttl=ttl, **kw)
        self.dnses.append(d)
        return d.start() if start else d

    def edges(self, registrar, n=2, **kw):
        """n new RFC 5626 edge proxies (rig.EdgeProxy, names edge0,
        edge1...) in front of registrar (a rig.Kamailio, e.g. made
        with registrars(1, template=rig.OUTBOUND_TEMPLATE)), started.
        They are healed and stopped with the registrars."""
        new = []
        for _ in range(n):
            nedge = len([k for k in self.kamailios
                         if isinstance(k, rig.EdgeProxy)])
            e = rig.EdgeProxy(str(self.tmp_path), 'edge%d' % nedge,
                              registrar=registrar, **kw)
            self.kamailios.append(e)
            new.append(e)
        for e in new:
            e.start()
        return new

    def dump(self):
        """Tails of every log, for a failed test's report."""
        for obj in self.kamailios + self.baresips:
            print('----- %r: %s' % (obj, obj.logfile))
            print(obj.log()[-4000:])
        for d in self.dnses:
            print('----- %r: %s' % (d, d.logfile))
            print(d.log()[-2000:])
        for p in self.peers:
            print('----- %r' % p)
            print(p.log()[-4000:])

    def teardown(self):
        errors = []
        # every registrar healthy again first: baresip's un-REGISTERs to
        # a dead or mute UDP registrar would hold quit for 32 s
        for k in self.kamailios:
            try:
                k.heal()
            except rig.RigError:
                pass
        for p in self.peers:
            p.set('ok')
        for b in self.baresips:
            try:
                b.quit(timeout=QUIT_TIMEOUT)
            except Exception as e:
                errors.append('%r: %s' % (b, e))
            if b.crashed:
                errors.append('%r died from signal %d:\n%s'
                              % (b, -b.returncode, b.log()[-3000:]))
            b.close()
            errors += ['%r: %s' % (b, e) for e in b.memcheck_errors()]
        for k in self.kamailios:
            k.close()
        for p in self.peers:
            p.close()
        for d in self.dnses:
            d.close()
        for port in self.ports:
            rig.release_port(port)
        return errors


def pytest_generate_tests(metafunc):
    """A test module with AUTH_MODES = ('auth', 'noauth') runs each of
    its tests against registrars that challenge REGISTER and against
    registrars that do not (the `rig_auth` fixture); a test marked
    @pytest.mark.auth_modes('auth') runs in the modes named only (a
    wrong password needs a registrar that asks for one)."""
    modes = getattr(metafunc.module, 'AUTH_MODES', None)
    only = metafunc.definition.get_closest_marker('auth_modes')
    if only:
        modes = [m for m in (modes or ('auth',)) if m in only.args]
    if modes and 'rig_auth' in metafunc.fixturenames:
        metafunc.parametrize('rig_auth', list(modes), indirect=True)


@pytest.fixture(autouse=True)
def rig_auth(request):
    """The auth mode of the test's registrars ('auth': digest, the
    default; 'noauth': every REGISTER trusted), as rig.AUTH."""
    mode = getattr(request, 'param', 'auth')
    if mode not in ('auth', 'noauth'):
        raise ValueError('rig_auth: %r' % mode)
    rig.AUTH = mode == 'auth'
    yield mode
    rig.AUTH = True


@pytest.fixture
def rig_session(tmp_path, request, rig_auth):
    """The RigSession of this test; torn down after it."""
    mark = request.node.get_closest_marker('audit_off')
    if mark is not None and not (mark.args or mark.kwargs.get('reason')):
        raise ValueError('audit_off: give a reason')
    s = RigSession(tmp_path, audit_on=mark is None and audit.ENABLED,
                   audit_reason=mark and (mark.args or
                                          (mark.kwargs['reason'],))[0])
    yield s
    # the auditor stops before the teardown heals and quits anything
    s.audit.stop()
    rep = getattr(request.node, 'rep_call', None)
    if rep is not None and rep.failed:
        s.dump()
    errors = s.teardown()
    report = s.audit.report()
    if report:
        errors.append(report)
    if s.audit.ticks:
        print('audit: %d ticks, %.2f s sampling, %d samples, %d '
              'divergences (%d over bound)'
              % (s.audit.ticks, s.audit.tick_seconds, len(s.audit.samples),
                 len(s.audit.divergences()),
                 len(s.audit.divergences(failed=True))))
    if errors:
        pytest.fail('rig teardown: ' + '\n'.join(errors))


@pytest.fixture
def registrars(rig_session):
    """registrars(n, **kw) -> n started kamailio registrars;
    registrars(hosts=(rig.HOST, rig.HOST2)) -> one per address, on one
    port."""
    return rig_session.registrars


@pytest.fixture
def baresip(rig_session):
    """baresip(accounts=(), config=(), start=True, **kw) -> Baresip."""
    return rig_session.baresip


@pytest.fixture
def peer(rig_session):
    """peer(mode='ok', **opts) -> a scripted SIP peer (sippeer.py) on
    127.0.0.1; set back to 'ok' before baresip quits, closed after."""
    return rig_session.peer


@pytest.fixture
def dns(rig_session):
    """dns(ttl=1, start=True) -> a rig.Dns (dnsmasq on 127.0.0.1),
    stopped after every baresip of the test has quit."""
    return rig_session.dns


@pytest.fixture
def edges(rig_session):
    """edges(registrar, n=2) -> n started rig.EdgeProxy in front of
    registrar."""
    return rig_session.edges
