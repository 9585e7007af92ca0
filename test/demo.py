"""serreg demo: three local kamailio registrars, baresip with serreg.

The primary is stopped, baresip moves to the fallback; the primary comes
back, baresip moves back.  Everything started here is stopped at the end.
Run with: make demo (it also draws the timeline: --png FILE).
SERREG_MODULE=/usr/lib/baresip/modules/serreg.so runs it against the
installed module (test/package/test_deb.sh).
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(
    os.path.abspath(__file__)), 'integration'))

import rig  # noqa: E402
import timeline  # noqa: E402

T0 = time.monotonic()


def say(text):
    print('[%5.1fs] %s' % (time.monotonic() - T0, text), flush=True)


def show(bs, regs):
    st = bs.command('serreg')['data'].rstrip()
    for line in st.splitlines():
        print('          ' + line)
    held = [r.name for r in regs if r.running and not r.frozen
            and r.has_binding('alice')]
    print('          bindings at the registrars: %s'
          % (', '.join(held) or 'none'), flush=True)


def await_move(bs, regs, reg, tier, t, what):
    """Wait for serreg's move to tier and the binding at reg; show it."""
    mv = bs.wait_move(tier, 20, t)
    if not mv:
        raise SystemExit('no move to tier %d: %s' % (tier, bs.log()))
    rig.wait_until(lambda: reg.has_binding('alice'), 5)
    say('%s after %.1f s (%s, answer %s):'
        % (what, mv[-1]['_time'] - t, mv[-1]['reason'],
           mv[-1]['answer'] or '-'))
    show(bs, regs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--png', help='write the timeline picture to this '
                    'file (python3-matplotlib)')
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix='serreg-demo-')
    regs = []
    bs = None
    t_start = time.time()
    try:
        for name in ('primary', 'backup', 'last-resort'):
            regs.append(rig.Kamailio(tmp, name).start())
        primary, backup, last = regs
        say('3 kamailio registrars on 127.0.0.1:%d, :%d, :%d (TCP)'
            % (primary.port, backup.port, last.port))

        lines = [rig.account_line('alice', r, prio=i, fbregint=2,
                                  transport='tcp')
                 for i, r in enumerate(regs)]
        bs = rig.Baresip(os.path.join(tmp, 'baresip'), lines,
                         ['serreg_probe_timeout 2',
                          'serreg_failback_hold 2']).start()
        say('baresip started with serreg (module %s); accounts:'
            % rig.MODULE)
        for line in lines:
            print('          ' + line)
        rig.wait_until(lambda: primary.has_binding('alice'), 5)
        say('registered on the primary only:')
        show(bs, regs)
        time.sleep(2.0)     # a stretch of the normal state (timeline)

        t_kill = t = time.time()
        primary.stop()
        say('primary registrar STOPPED (SIGKILL)')
        await_move(bs, regs, backup, 1, t, 'moved to the backup')

        t_back = t = time.time()
        primary.start()
        say('primary registrar STARTED again')
        await_move(bs, regs, primary, 0, t, 'moved back to the primary')

        say("serreg's log lines in baresip's output:")
        for line in bs.log().splitlines():
            if line.startswith('serreg: tier'):
                print('          ' + line)
        if args.png:
            time.sleep(1.0)     # the un-REGISTER of the backup
            timeline.plot(
                args.png, 'make demo: primary killed (SIGKILL), started '
                'again; TCP, Cisco mode (fbregint=2, failback hold 2)',
                regs, 'alice', t_start, time.time(), moves=bs.moves(),
                faults=[timeline.Fault(0, t_kill, 'killed', t_back,
                                       lost=True)])
            say('timeline written to %s' % args.png)
    finally:
        if bs:
            took = bs.quit()
            say('baresip quit in %.2f s' % took)
        for r in regs:
            r.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        say('all registrars stopped, temporary files removed')


if __name__ == '__main__':
    main()
