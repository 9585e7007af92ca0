"""No action of serreg's is lost when memory runs out (issue 9, bug 4).

A shim preloaded into the real baresip makes every allocation of
serreg.so fail while a flag file exists.  Before, an action queued in
allocated memory was dropped: a lost timer stopped that account's
probing for good.  Now nothing in the action path allocates; a request
that cannot be allocated is reported as its outcome, visibly, and
probing goes on.
"""

import os
import subprocess
import time

import pytest

from rig import account_line, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
CFG = ['serreg_probe_timeout 1', 'serreg_failback_hold 1',
       'serreg_check_interval 1']


@pytest.fixture
def allocfail(tmp_path):
    """(LD_PRELOAD path, flag file) of the allocation-failure shim."""
    so = str(tmp_path / 'allocfail.so')
    subprocess.run(['gcc', '-shared', '-fPIC', '-O1', '-o', so,
                    os.path.join(HERE, 'shims', 'allocfail.c'), '-ldl'],
                   check=True, timeout=60)
    return so, str(tmp_path / 'allocfail.on')


def test_bug4_out_of_memory_loses_no_action(registrars, baresip,
                                           allocfail):
    so, flag = allocfail
    a, b = registrars(2)
    bs = baresip([account_line('alice', a, prio=0, fbregint=1),
                  account_line('alice', b, prio=1, fbregint=1)], CFG,
                 env={'LD_PRELOAD': so, 'SERREG_ALLOCFAIL_FILE': flag})
    assert wait_until(lambda: a.has_binding('alice'), 5), bs.log()
    assert wait_until(lambda: len(b.probes('alice')) >= 2, 5), b.log()

    # serreg's allocations fail for 4 s: several probe and check rounds
    t0 = time.time()
    open(flag, 'w').close()
    time.sleep(4)
    os.unlink(flag)
    t1 = time.time()

    # probing goes on: 1 s interval, 1 s timeout
    assert wait_until(lambda: len(b.probes('alice', t1)) >= 3, 8), \
        (bs.log()[-3000:], b.log())
    # the failures surfaced, naming the account and the request
    log = bs.log()
    assert 'probe not sent (Cannot allocate memory)' in log, log[-3000:]
    assert 'check not sent (Cannot allocate memory)' in log, log[-3000:]
    # a request serreg could not allocate says nothing of the registrar:
    # no move
    assert bs.moves(t0) == [], log[-3000:]
    # the tier in use was never disturbed
    assert a.has_binding('alice') and not b.has_binding('alice')
    st = bs.status()
    assert st['state'] == 'registered' and st['current'] == 0, st

    # and the engine still moves: tier 0 fails, tier 1 takes over
    t2 = time.time()
    a.set_reply(503)
    mv = bs.wait_move(1, 10, t2)
    assert mv, bs.log()[-3000:]
    assert wait_until(lambda: b.has_binding('alice'), 5)
