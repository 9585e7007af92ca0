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
