"""What differs between Debian 12 (baresip 1.0.0) and Debian 13 (baresip
1.1.0), on the real rig of each: loaded as Debian 13's template does
(module_app), serreg takes every account off baresip 1.1.0's own
fallback (its periodic expires=0 REGISTER), and a network change, which
1.1.0 answers by putting a registered prio > 0 account on that fallback
client (its binding goes), leaves the account bound again at once.  On
1.0.0 the same tests hold (1.0.0 has no fallback of its own; its net
change registers every UA again).  docs/design.md §13.
"""

import os
import subprocess
import time

import pytest

import rig
from rig import account_line, wait_until
from test_serial import FAST, bound, tier_account

AUTH_MODES = ('auth', 'noauth')

FBREGINT = 2      # [s] standby probes: 80-100 % of it
WINDOW = 12.0     # [s] probes counted

# A module with a command that makes baresip act as on a network change
# (uag_reset_transp(), what main.c's net_change handler calls); struct
# cmd and the functions are declared the same in 1.0.0 and 1.1.0
NETCHANGE_C = r'''
#include <stdbool.h>
#include <stddef.h>
struct re_printf;
struct commands;
struct cmd {
	const char *name;
	char key;
	int flags;
	const char *desc;
	int (*h)(struct re_printf *pf, void *arg);
};
struct mod_export {
	const char *name, *type;
	int (*init)(void);
	int (*close)(void);
};
struct commands *baresip_commands(void);
int cmd_register(struct commands *c, const struct cmd *v, size_t n);
void cmd_unregister(struct commands *c, const struct cmd *v);
int uag_reset_transp(bool reg, bool reinvite);

static int netchange(struct re_printf *pf, void *arg)
{
	(void)pf;
	(void)arg;
	return uag_reset_transp(true, true);
}

static const struct cmd cmdv[] = {
	{"test_netchange", 0, 0, "network change (test)", netchange},
};

static int init(void)
{
	return cmd_register(baresip_commands(), cmdv, 1);
}

static int cl(void)
{
	cmd_unregister(baresip_commands(), cmdv);
	return 0;
}

__attribute__((visibility("default")))
const struct mod_export exports = {"netchange", "application", init, cl};
'''


@pytest.fixture(scope='module')
def netchange_so(tmp_path_factory):
    d = tmp_path_factory.mktemp('netchange')
    src = d / 'netchange.c'
    src.write_text(NETCHANGE_C)
    so = d / 'netchange.so'
    subprocess.run(['cc', '-shared', '-fPIC', '-fvisibility=hidden',
                    '-o', str(so), str(src)], check=True, timeout=60)
    return so


@pytest.mark.parametrize('line', ['module serreg.so',
                                  'module_app serreg.so'])
def test_standby_probed_by_serreg_only(registrars, baresip, line):
    """A prio 1 account with fbregint: baresip 1.1.0 itself keeps it on
    a fallback client that sends REGISTER expires=0 every fbregint;
    serreg ends that client when it starts, so the standby registrar
    gets serreg's probes only (80-100 % of fbregint), never a binding,
    whether serreg is loaded with 'module' or, as in Debian 13's
    template, 'module_app'."""
    a, b = registrars(2)
    bs = baresip([account_line('alice', a, prio=0, fbregint=FBREGINT),
                  account_line('alice', b, prio=1, fbregint=FBREGINT)],
                 FAST, serreg_line=line)
    assert wait_until(lambda: bound([a, b]) == [0], 5)
    time.sleep(2)
    t0 = time.time()
    time.sleep(WINDOW)
    probes = b.probes('alice', t0)
    # serreg: one per 1.6-2.0 s (+ the digest round); with the core's
    # client still alive, one more every 2.0 s
    most = int(WINDOW / (0.8 * FBREGINT)) + 1
    assert WINDOW / (FBREGINT + 1.0) - 1 <= len(probes) <= most, probes
    assert not b.has_binding('alice')
    assert b.registers('alice', t0) == []
    assert tier_account(bs.status(), 1)['state'] == 'alive'
    assert bs.status()['current'] == 0


def test_uanew_after_uadel_taken_over(registrars, baresip):
    """uanew, uadel, uanew again of prio 1 accounts whose registrar
    refuses their password: baresip 1.1.0 raises no event for them (the
    core's fallback REGISTER gets a 401; libre 2.0.1 calls no handler
    for a 4xx to an expires=0 client), so serreg finds them by its look
    at the UA list; each new one is managed within a second or two,
    also when it took the place of one just deleted (a look that kept
    the list's tail missed it: the new UA had the deleted one's
    address)."""
    a, = registrars(1)
    b, = registrars(1, password='not-' + rig.PASSWORD)
    bs = baresip([account_line('alice', a, prio=0, fbregint=FBREGINT)],
                 FAST)
    assert wait_until(lambda: bound([a]) == [0], 5)

    def listed(user):
        return rig.aor(user, b) in [x['aor']
                                    for x in bs.status()['accounts']]
    for user in ('dave', 'erin', 'fred'):
        r = bs.command('uanew', account_line(user, b, prio=1,
                                             fbregint=FBREGINT))
        assert r['ok'], r
        assert wait_until(lambda: listed(user), 4), (user, bs.status())
        r = bs.command('uadel', rig.aor(user, b))
        assert r['ok'], r
        assert wait_until(lambda: not listed(user), 4), bs.status()
    assert bs.status()['current'] == 0 and a.has_binding('alice')


def test_net_change_leaves_the_tier_in_use_bound(registrars, baresip,
                                                  netchange_so):
    """After a failover to tier 1 (prio 1), a network change: baresip
    1.1.0 puts that account on its fallback client (expires=0: the
    binding goes); serreg registers it again at the first answer.  1.0.0
    registers every UA with a regint again itself.  Either way the
    binding is back within the auditor's bound, holds for a refresh
    interval, no move, and the parked tier 0 gets no binding."""
    a, b = registrars(2)
    bs = baresip([account_line('alice', a, prio=0, fbregint=FBREGINT),
                  account_line('alice', b, prio=1, fbregint=FBREGINT)],
                 FAST + rig.CALLEE_CONFIG + ['module_app netchange.so'],
                 start=False)
    os.symlink(str(netchange_so), os.path.join(bs.moddir, 'netchange.so'))
    bs.start(hold=[a, b])
    assert wait_until(lambda: bound([a, b]) == [0], 5)
    a.set_reply(503)
    assert bs.wait_move(1, 15)
    # (a answers 503 to the un-REGISTER too: its binding expires)
    assert wait_until(lambda: b.has_binding('alice'), 5)
    time.sleep(1)

    t0 = time.time()
    res = bs.command('test_netchange')
    assert res['ok'], res
    # the binding may go for a round trip (1.1.0), then is back
    assert wait_until(lambda: b.has_binding('alice'), 3)
    time.sleep(0.5)
    assert wait_until(lambda: b.has_binding('alice'), 3)
    assert b.registers('alice', t0), 'no REGISTER at the tier in use after the net change'
    # a full refresh interval (regint 10 s) and its refresh
    end = time.time() + rig.DEFAULT_REGINT + 2
    while time.time() < end:
        assert b.has_binding('alice'), 'binding lost after net change'
        time.sleep(0.5)
    assert [m for m in bs.moves(t0)] == []
    assert bs.status()['current'] == 1
    assert not a.has_binding('alice')
    # and a call to the AoR through the registrar in use reaches baresip
    res = rig.call(b, 'alice', bs, timeout=10)
    assert res.event is not None and res.rc == 0, (res.rc, res.log[-1500:])
