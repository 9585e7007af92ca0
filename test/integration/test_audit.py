"""Self-tests of the binding auditor (audit.py, on in every test of the
rig): it finds a binding a registrar lost while serreg says registered
(rule 1), one a registrar keeps for an account serreg does not register
(rule 2, with fakes in virtual time), excuses what a test declares, and
finds nothing in a healthy run.
"""

import json
import time

import pytest

import audit
import rig
from rig import account_line, aor, wait_until

DUMP = """{
\tDomains: {
\t\tDomain: {
\t\t\tDomain: location
\t\t\tAoRs: {
\t\t\t\tInfo: {
\t\t\t\t\tAoR: alice
\t\t\t\t\tContacts: {
\t\t\t\t\t\tContact: {
\t\t\t\t\t\t\tAddress: sip:alice-0x5@127.0.0.1:%d
\t\t\t\t\t\t\tExpires: 19
\t\t\t\t\t\t\tReg-Id: 0
\t\t\t\t\t\t}
\t\t\t\t\t\tContact: {
\t\t\t\t\t\t\tAddress: sip:alice-0x6@127.0.0.1:%d;transport=tcp
\t\t\t\t\t\t\tExpires: -3
\t\t\t\t\t\t\tReg-Id: 1
\t\t\t\t\t\t}
\t\t\t\t\t}
\t\t\t\t}
\t\t\t}
\t\t}
\t}
}
"""


def test_parse_ul_dump():
    t = audit.parse_ul_dump(DUMP % (5000, 5000))
    assert list(t) == ['alice'] and len(t['alice']) == 1, t
    assert t['alice'][0]['Address'] == 'sip:alice-0x5@127.0.0.1:5000'
    assert audit.repair_bound(audit.DEFAULT_PROBE_TIMEOUT) == 6
    assert audit.unregister_window(2) == 36


class FakeReg:
    """A registrar as the auditor sees it (rig.Kamailio's fields)."""

    def __init__(self, port):
        self.name, self.host, self.port, self.tls_port = (
            'reg%d' % port, rig.HOST, port, None)
        self.running, self.frozen, self.table = True, False, ''

    def rpc(self, *args, timeout=None):
        return self.table


class FakeBaresip:
    def __init__(self, sip_port, accounts, config=()):
        self.serreg, self.running, self.sock, self._eof = (
            True, True, object(), False)
        self.sip_port, self.accounts, self.config = (sip_port, accounts,
                                                     list(config))
        self.state = []

    def command(self, name, params='', timeout=None):
        return {'ok': True, 'data': json.dumps({'accounts': self.state})}


class FakeSession:
    def __init__(self, kamailios, baresips):
        self.kamailios, self.baresips = kamailios, baresips


def test_rule2_in_virtual_time(monkeypatch):
    """A standby account whose registrar keeps our binding: a divergence
    once it lasts past Timer F + probe timeout + 2 s, not before; the
    samples of a frozen registrar end it; expect() excuses it."""
    now = [1000.0]
    monkeypatch.setattr(audit.time, 'time', lambda: now[0])
    r = FakeReg(7000)
    b = FakeBaresip(5000, [account_line('alice', 7000)],
                    ['serreg_probe_timeout 2'])
    b.state = [{'aor': aor('alice', 7000), 'tier': 1, 'role': 'standby',
                'state': 'alive'}]
    r.table = DUMP % (5000, 5000)
    a = audit.BindingAuditor(FakeSession([r], [b]))
    for _ in range(37):
        a.sample()
        now[0] += 1
    assert [d.failed for d in a.divergences()] == [False]
    a.sample()
    d, = a.divergences(failed=True)
    assert (d.rule, d.registrar, d.duration) == (2, r, 37.0), d.report(0)
    # a frozen registrar ends it; it starts again after the thaw
    r.frozen = True
    now[0] += 1
    a.sample()
    r.frozen = False
    now[0] += 1
    a.sample()
    assert len(a.divergences()) == 2 and not a.divergences()[1].failed
    # another baresip's contact, or a registered account: no divergence
    b.state[0]['state'] = 'registered'
    now[0] += 1
    a.sample()
    assert len(a.divergences()) == 2
    assert 'rule 2' in a.report() and 'reg7000' in a.report()
    # excused samples start none
    b.state[0]['state'] = 'dead'
    a.expect(aor='alice', registrar=r, reason='self-test')
    for _ in range(40):
        now[0] += 1
        a.sample()
    assert len(a.divergences()) == 2
    a.stop()


def test_rule1_in_virtual_time(monkeypatch):
    """A registered account whose registrar holds no binding of ours (a
    binding of another port is not ours): a failure after
    probe timeout + 1 s; a binding again ends it."""
    now = [1000.0]
    monkeypatch.setattr(audit.time, 'time', lambda: now[0])
    r = FakeReg(7000)
    b = FakeBaresip(5001, [account_line('alice', 7000)])
    b.state = [{'aor': aor('alice', 7000), 'tier': 0, 'role': 'current',
                'state': 'registered'}]
    r.table = DUMP % (5000, 5000)
    a = audit.BindingAuditor(FakeSession([r], [b]))
    for _ in range(8):
        a.sample()
        now[0] += 1
    r.table = DUMP % (5001, 5001)
    a.sample()
    d, = a.divergences()
    assert d.rule == 1 and d.duration == 7 and d.failed and not d.open
    assert 'rule 1' in a.report()
    d.acknowledge('self-test')
    assert a.report() == ''


def test_rule1_dropped_binding_caught(registrars, baresip, rig_session):
    """The real rig: a registrar loses alice's binding (ul.rm) while
    serreg reports her registered (regint 60: no refresh soon); the
    auditor reports rule 1 for that registrar once the divergence is
    longer than probe timeout + 1 s."""
    r, = registrars(1)
    bs = baresip([account_line('alice', r, prio=0, regint=60)],
                 ['serreg_probe_timeout 2'])
    assert wait_until(lambda: r.has_binding('alice'), 10)
    assert wait_until(lambda: bs.status()['accounts'][0]['state']
                      == 'registered', 5)
    time.sleep(2)
    assert rig_session.audit.divergences() == [], (
        rig_session.audit.report())
    t = time.time()
    r.drop_bindings('alice')
    assert wait_until(lambda: rig_session.audit.divergences(failed=True),
                      15), [s.line(t) for s in rig_session.audit.samples]
    d, = rig_session.audit.divergences(failed=True)
    assert (d.rule, d.registrar, d.aor, d.bound) == (
        1, r, aor('alice', r), 3), d.report(t)
    assert d.first >= t
    d.acknowledge('self-test: the binding was dropped on purpose')


@pytest.mark.audit_off('self-test of the marker')
def test_audit_off_marker(registrars, baresip, rig_session):
    r, = registrars(1)
    baresip([account_line('alice', r, prio=0)])
    time.sleep(1.5)
    assert not rig_session.audit.on and rig_session.audit.samples == []


def test_srv_set_registered_means_bound_noauth(registrars, baresip, dns,
                                               rig_session):
    """An account of an SRV set at registrars that do not challenge
    REGISTER: serreg reports it registered, and nothing here asserts on
    the registrars, so only the auditor can tell whether the server in
    use holds the binding.  (On the branch this was written on it does
    not: a replaced reg client's late un-REGISTER removes it right at
    start, and this test fails with the auditor's rule 1 report.)"""
    r1, r2 = registrars(2, auth=False)
    d = dns(ttl=1)
    d.server_set('tier0.example', [r1, r2])
    d.apply()
    bs = baresip(['<sip:alice@tier0.example>;auth_pass=%s;regint=20;'
                  'prio=0' % rig.PASSWORD],
                 ['serreg_probe_timeout 2', d.config_line])
    assert wait_until(lambda: bs.status()['accounts'][0]['state']
                      == 'registered', 10), bs.log()[-3000:]
    time.sleep(8)
    assert bs.status()['accounts'][0]['state'] == 'registered'
