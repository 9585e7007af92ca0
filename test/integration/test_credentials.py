"""Credentials never appear in logs, in `serreg` output or in events.

Accounts with auth_user and auth_pass go through a failover and a
failback, with probes and checks answered by digest challenges, and a
registrar that refuses the password (401 forever); baresip runs with -v
so that debug lines are in its log too; one more is added with uanew,
the password in its URI.  The password must then appear nowhere in
baresip's stdout/stderr
(but for ctrl_tcp's own echo of the uanew command), in `serreg` /
`serreg json`, or in any ctrl_tcp event.
"""

import json
import time
import uuid

from rig import account_line, aor, wait_until
from test_faults import CFG, acc_is, sane

# unique per run, so that a hit can only be this password
SECRET = 'pw-%s' % uuid.uuid4().hex[:16]


# baresip's ctrl_tcp logs every command with its parameters (debug
# level): a uanew line with a password shows there, outside serreg
CTRL_TCP_ECHO = 'ctrl_tcp: handle_command:'


def leaks(bs):
    """Where SECRET shows: names of the outputs that contain it."""
    log = bs.log().splitlines()
    out = {
        'log': '\n'.join(x for x in log if CTRL_TCP_ECHO not in x),
        'serreg': bs.command('serreg')['data'],
        'serreg json': bs.command('serreg', 'json')['data'],
        'events': json.dumps(bs.events()),
    }
    return [name for name, text in out.items() if SECRET in text]


def test_password_not_in_log_status_or_events(registrars, baresip):
    a, b = registrars(2, password=SECRET)
    c, = registrars(1, password=SECRET + 'x')     # refuses it
    auth = 'auth_user=alice'
    lines = [account_line('alice', a, prio=0, fbregint=1, password=SECRET,
                          extra=auth),
             account_line('alice', b, prio=1, fbregint=1, password=SECRET,
                          extra=auth),
             account_line('alice', c, prio=2, fbregint=1, password=SECRET,
                          extra=auth)]
    bs = baresip(lines, CFG, args=['-v'])
    assert wait_until(lambda: a.has_binding('alice'), 5)
    assert wait_until(lambda: acc_is(bs, 'alice', b, 'alive', '200'), 4)
    assert wait_until(lambda: acc_is(bs, 'alice', c, 'dead', '401'), 4)
    # the password was used: challenged requests were resent with it
    assert any(r.authorized for r in b.requests('alice', 'REGISTER'))
    with open(bs.confdir + '/accounts') as f:
        assert SECRET in f.read()       # the search below can hit

    # failover (a check answered 503) and failback, with probes
    t0 = time.time()
    a.set_reply(503)
    assert bs.wait_move(1, 5, t0)
    assert wait_until(lambda: b.has_binding('alice'), 5)
    a.set_reply(None)
    assert bs.wait_move(0, 8, t0)
    assert wait_until(lambda: a.has_binding('alice'), 5)
    assert wait_until(lambda: bs.status()['state'] == 'registered', 3)
    sane(bs, 0)

    # an account added at run time, the password in its URI
    port = b.port
    r = bs.command('uanew', '<sip:dave:%s@127.0.0.1:%d>;regint=10;'
                   'prio=1;fbregint=1' % (SECRET, port))
    assert r['ok'], r
    time.sleep(2)
    st = bs.status()
    assert len(st['accounts']) == 4, st
    # the AoR is shown without the password of the URI
    assert aor('dave', b) in [x['aor'] for x in st['accounts']], st
    assert bs.moves(t0), 'no move event to search'
    assert leaks(bs) == []
    # the only line of baresip's log with it is ctrl_tcp's echo
    assert [x for x in bs.log().splitlines() if SECRET in x] == \
        [x for x in bs.log().splitlines() if CTRL_TCP_ECHO in x
         and 'uanew' in x], bs.log()

