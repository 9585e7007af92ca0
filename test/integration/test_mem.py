"""serreg json "mem": the module's live objects follow the ladder.

The soak (make soak) relies on these figures to show that the module
does not leak; here they are checked against what is known to exist.
"""

import os
import time

from rig import account_line, aor, wait_until
from test_serial import FAST


def mem(bs):
    return bs.status()['mem']


def test_mem_counts_accounts_and_probes(registrars, baresip):
    a, b = registrars(2)
    bs = baresip([account_line('alice', a, prio=0),
                  account_line('alice', b, prio=1, fbregint=1)], FAST)
    assert wait_until(lambda: a.has_binding('alice'), 5)

    m = mem(bs)
    assert m['accounts'] == 2 and m['engine_accounts'] == 2, m
    assert m['pending'] == 0, m
    assert m['probes'] <= 1, m
    assert m['watches'] == 0, m          # UDP: no connection to watch
    assert m['objects'] == (m['accounts'] + m['pending'] + m['probes']
                            + m['watches']), m
    # glibc's mallinfo2(); ASan's allocator leaves it at 0
    assert m['heap'] > 0 or os.environ.get('SERREG_ASAN') == '1', m

    # probes of b every ~1 s: objects are allocated and freed again
    allocs = m['allocs']
    time.sleep(4)
    m2 = mem(bs)
    assert m2['allocs'] >= allocs + 3, (m, m2)
    assert m2['objects'] <= 3 and m2['pending'] == 0, m2

    # a UA removed: its objects are gone; added back: counted again
    r = bs.command('uadel', aor('alice', b))
    assert r['ok'], r
    assert wait_until(lambda: mem(bs)['accounts'] == 1, 5), mem(bs)
    m3 = mem(bs)
    assert m3['engine_accounts'] == 1 and m3['probes'] == 0, m3
    assert m3['bytes'] < m2['bytes'], (m2, m3)

    r = bs.command('uanew', account_line('alice', b, prio=1, fbregint=1))
    assert r['ok'], r
    assert wait_until(lambda: mem(bs)['accounts'] == 2, 5), mem(bs)
    assert mem(bs)['engine_accounts'] == 2
