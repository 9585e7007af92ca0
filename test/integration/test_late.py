"""Requests serreg gives up on stop at its deadline (issues 17 and 20).

libre 1.1.0 cannot stop a client transaction: a probe or check freed at
serreg_probe_timeout went on being retransmitted over UDP (T1 doubling
to T2) until Timer F, 32 s after it began.  A registrar that was frozen
read every copy when it thawed, and one that restarted got the copies
still alive from the whole fleet in its first seconds; a probe's
expires=0 arriving late can remove a binding made meanwhile.

Over UDP serreg now sends its requests statelessly and retransmits
them itself until its deadline, never after: with a 2 s probe timeout
each is sent at 0, 0.5 and 1.5 s (T1 = 0.5 s doubling), three copies at
most, where libre's transaction sent up to eleven (0, 0.5, 1.5, 3.5,
7.5, 11.5 ... 31.5 s).  A frozen registrar's kernel queues every copy
sent while it is frozen, so the copies it reads at its thaw count them.
"""

import collections
import time

import pytest

import rig
from rig import account_line, wait_until
from test_serial import FAST, bound, tier_state

# every test against registrars that challenge REGISTER and that do not
AUTH_MODES = ('auth', 'noauth')

TIMEOUT = 2          # [s] serreg_probe_timeout of FAST
# copies of one request within TIMEOUT on libre's schedule: 0, 0.5, 1.5
MAX_COPIES = 3
FROZEN = 40          # [s] longer than Timer F: libre's copies all sent


def copies(k, method, since, probes_only=False):
    """{(Call-ID, authorized): copies} of method received by k since
    `since`: libre's retransmissions repeat the request, serreg's own
    are sent again on the same Call-ID (a new CSeq each).  A challenge
    (401/407) starts a second run of copies, the resend with
    credentials and its own retransmissions: each run is counted by
    itself, as each is bounded by the same schedule.  probes_only:
    REGISTERs that ask for no binding (expires=0, or no Contact: a
    query) on a Call-ID that never registered (not the un-REGISTER of
    baresip's reg client)."""
    regs = {r.callid for r in k.requests('alice', 'REGISTER')
            if r.is_registration}
    n = collections.Counter()
    for r in k.requests('alice', method, since):
        if probes_only and (r.is_registration or r.callid in regs):
            continue
        n[(r.callid, r.authorized)] += 1
    return n


def test_given_up_probe_not_retransmitted_after_deadline(registrars,
                                                         baresip):
    """A standby registrar frozen past Timer F: every probe REGISTER
    (expires=0) sent to it meanwhile is given up at the probe timeout,
    and the copies it reads when it thaws are those sent before that
    deadline only."""
    a, b = registrars(2)
    bs = baresip([account_line('alice', a, prio=0),
                  account_line('alice', b, prio=1, fbregint=5)], FAST)
    assert wait_until(lambda: bound([a, b]) == [0], 5)
    assert wait_until(lambda: tier_state(bs, 1) == 'alive', 10)

    t_f = time.time()
    b.freeze()
    assert wait_until(lambda: tier_state(bs, 1) == 'dead', 10)
    time.sleep(FROZEN)
    b.thaw()
    time.sleep(2)      # the queued datagrams are read at once

    n = copies(b, 'REGISTER', t_f, probes_only=True)
    print('probe copies read at the thaw: %s' % sorted(n.values()))
    assert len(n) >= 5, n          # a probe every 4-5 s while frozen
    assert max(n.values()) <= MAX_COPIES, n
    assert bound([a, b]) == [0]
    assert wait_until(lambda: tier_state(bs, 1) == 'alive', 10)


def test_given_up_check_not_retransmitted_after_deadline(registrars,
                                                         baresip):
    """The registrar in use frozen: its check (OPTIONS) times out, the
    phone moves to the backup; the copies of that check the frozen
    registrar reads at its thaw are those sent before the deadline."""
    a, b = registrars(2)
    bs = baresip([account_line('alice', a, prio=0, fbregint=5),
                  account_line('alice', b, prio=1, fbregint=5)],
                 FAST + ['serreg_check_interval 3'])
    assert wait_until(lambda: bound([a, b]) == [0], 5)

    t_f = time.time()
    a.freeze()
    mv = bs.wait_move(1, 3 + TIMEOUT + 5, t_f)
    assert mv, bs.log()[-3000:]
    assert wait_until(lambda: b.has_binding('alice'), 5)
    time.sleep(FROZEN)
    a.thaw()
    time.sleep(2)

    # serreg's: checks (OPTIONS), probes, the binding query after the
    # start (REGISTER without Contact); baresip's un-REGISTER of the
    # registration it left (libre's transaction, up to 11 copies) is
    # not serreg's to stop
    mine = copies(a, 'OPTIONS', t_f) + \
        copies(a, 'REGISTER', t_f, probes_only=True)
    print('copies of serreg\'s requests read at the thaw: %s'
          % sorted(mine.values()))
    assert len(mine) >= 5, mine
    assert max(mine.values()) <= MAX_COPIES, mine


NAME = 'tier1.example'
HOLD = 4             # [s] the slow DNS answer


@pytest.fixture
def slow_dns(dns):
    """(Dns, DnsDelay in front of it): a resolver whose answers for a
    name can be held."""
    d = dns(ttl=1)
    proxy = rig.DnsDelay(d)
    yield d, proxy
    proxy.close()


def test_given_up_tcp_probe_still_resolving_is_never_sent(registrars,
                                                          baresip,
                                                          slow_dns):
    """Tier 1 is a registrar named by a domain, over TCP: serreg's probe
    goes through libre's transaction, which resolves the name first.
    Its DNS answer held (4 s), the probe is given up meanwhile: tier 0
    is killed, the phone moves to tier 1 (the probe cancelled) and
    registers there, its own REGISTER resolving at once.  libre 1.1.0
    cannot take back a request still resolving: freed, it is only
    marked cancelled (src/sip/request.c, its destructor) and the DNS
    handlers send it when the answer comes.  Before (glue review, issue
    17): that probe reached tier 1 after the account's REGISTER, 4 s
    after serreg gave it up.  It could not remove the binding: the
    destructor also drops the send handler, which is what adds the
    Contact, so it went as "Expires: 0" without Contact, a binding
    query (RFC 3261 10.3; the binding held, also where REGISTER is not
    challenged).  Now the given-up request refuses every address in its
    send handler: nothing reaches the registrar."""
    d, proxy = slow_dns
    a, b = registrars(2)
    d.a(NAME, b.host)
    d.apply()
    t0 = time.time()
    bs = baresip([account_line('alice', a, prio=0, transport='tcp',
                               regint=600),
                  '<sip:alice@%s:%d;transport=tcp>;auth_pass=%s;'
                  'regint=600;prio=1;fbregint=2'
                  % (NAME, b.port, rig.PASSWORD)],
                 ['serreg_probe_timeout 5', 'serreg_failback_hold 1',
                  proxy.config_line])
    assert wait_until(lambda: bound([a, b]) == [0], 5), bs.log()[-3000:]
    assert wait_until(lambda: len(b.probes('alice')) >= 1, 6)
    assert wait_until(lambda: tier_state(bs, 1) == 'alive', 5)
    assert wait_until(lambda: bs.status()['mem']['watches'] == 1, 5)

    # the next probe's name held, nothing else's
    proxy.delay(NAME, HOLD)
    assert wait_until(lambda: proxy.held(NAME), 5), proxy.queries()
    proxy.delay(NAME, 0)
    t1 = time.time()
    a.stop()
    mv = bs.wait_move(1, 3, t1)
    assert mv, bs.log()[-3000:]
    assert wait_until(lambda: b.has_binding('alice'), 3)
    t_reg = b.registers('alice', t1)[0].time
    assert t_reg < proxy.held(NAME)[0][0] + HOLD, 'not before the answer'

    # the held answer comes: the given-up probe is not sent
    time.sleep(HOLD + 2)
    held = b.has_binding('alice')
    late = [r for r in b.requests('alice', 'REGISTER', t1) if r.is_probe]
    assert late == [], (late, 'binding held: %s' % held)
    assert held
    assert [m['to'] for m in bs.moves(t0) if m['reason'] != 'start'] \
        == ['1']
