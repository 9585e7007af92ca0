"""Timeline picture of a failover (PNG), for the demo and the benchmark.

One row per registrar (= tier), read from the registrars' own request
logs (rig.Kamailio.requests): where the user's binding is held over time
(a REGISTER answered 200 until its expiry, an un-REGISTER or the
registrar's death), the faults, serreg's moves (its ctrl_tcp events), the
probes (REGISTER expires=0) and the checks (OPTIONS) with their answers.

    timeline.plot('x.png', 'title', regs, 'alice', t0, t1,
                  moves=bs.moves(), faults=[Fault(0, t, 'killed')])

Needs python3-matplotlib (Agg backend, no display); imported only here,
so the rig and the tests do not need it.
"""

import collections

# A fault on registrar `reg` (its index = tier) from t until `until`
# (None: to the end); lost=True: its bindings are lost at t (killed)
Fault = collections.namedtuple('Fault', 'reg t what until lost',
                               defaults=(None, False))

OK = '#2a9d2a'
BAD = '#d62728'
NONE = '#7f7f7f'
BIND = '#1f77b4'


def _color(answer):
    if answer is None:
        return NONE
    return OK if answer == 200 else BAD


def bindings(reg, user, t0, t1, faults=()):
    """[(start, end)] of the user's binding at reg within [t0, t1]: a
    REGISTER answered 200 holds it until its expiry, an un-REGISTER
    (expires=0, the registrations' Call-ID) answered 200 or a fault with
    lost=True ends it."""
    regs = [r for r in reg.requests(user, 'REGISTER')
            if r.is_registration and r.answer == 200]
    ids = {r.callid for r in regs}
    ends = [r.answer_time for r in reg.requests(user, 'REGISTER')
            if r.is_probe and r.callid in ids and r.answer == 200]
    ends += [f.t for f in faults if f.lost]
    out = []
    for r in regs:
        start = r.answer_time
        end = start + (r.expires if r.expires else 3600)
        end = min([end] + [e for e in ends if e > start])
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return [(max(s, t0), min(e, t1)) for s, e in out
            if e > t0 and s < t1]


def plot(path, title, regs, user, t0, t1, moves=(), faults=()):
    """Write the timeline of regs (index = tier) between t0 and t1
    (time.time() values) to path (PNG)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    n = len(regs)
    fig, ax = plt.subplots(figsize=(11, 1.6 + 0.9 * n), dpi=100)
    span = max(t1 - t0, 1.0)

    def x(t):
        return t - t0

    for i, reg in enumerate(regs):
        fl = [f for f in faults if f.reg == i]
        for f in fl:
            end = f.until if f.until is not None else t1
            ax.axvspan(x(f.t), x(end), ymin=(n - 1 - i + 0.08) / n,
                       ymax=(n - i - 0.08) / n, color=BAD, alpha=0.12,
                       lw=0)
            ax.text(x(f.t) + span * 0.005, i - 0.36, f.what, color=BAD,
                    fontsize=8, va='center')
        for s, e in bindings(reg, user, t0, t1, fl):
            ax.broken_barh([(x(s), e - s)], (i - 0.14, 0.28),
                           facecolors=BIND)
        for r in reg.requests(user):
            if r.time < t0 or r.time > t1 or r.retrans or r.retry:
                continue
            if r.method == 'OPTIONS':
                ax.plot(x(r.time), i + 0.3, 'o', ms=4,
                        color=_color(r.final), mec='none')
            elif r.is_probe:
                ax.plot(x(r.time), i - 0.27, 'v', ms=6,
                        color=_color(r.final), mec='none')
            elif r.is_registration and r.final != 200:
                ax.plot(x(r.time), i, 'x', ms=6, color=_color(r.final))

    # a dashed line per move; one label per burst of moves (a round of
    # the serial tiers takes a fraction of a second), on three levels
    bursts = []
    for m in moves:
        t = m.get('_time')
        if t is None or not t0 <= t <= t1:
            continue
        ax.axvline(x(t), color='black', ls='--', lw=0.9)
        if bursts and t - bursts[-1][0]['_time'] < span * 0.03:
            bursts[-1].append(m)
        else:
            bursts.append([m])
    for k, b in enumerate(bursts):
        label = 'tier %s \u2192 %s (%s)' % (
            b[0].get('from', '?'),
            ' \u2192 '.join(m.get('to', '?') for m in b),
            b[-1].get('reason', ''))
        ax.text(x(b[0]['_time']) + span * 0.004, -0.8 + 0.17 * (k % 3),
                label, fontsize=7.5, ha='left', va='center')
    for f in faults:
        ax.axvline(x(f.t), color=BAD, lw=1.2)

    ax.set_ylim(n - 0.4, -0.9)
    ax.set_xlim(0, span)
    ax.set_yticks(range(n))
    ax.set_yticklabels(['tier %d: %s\n127.0.0.1:%d' % (i, r.name, r.port)
                        for i, r in enumerate(regs)], fontsize=9)
    ax.set_xlabel('time [s]')
    ax.set_title(title, fontsize=10)
    ax.grid(axis='x', alpha=0.3)
    # the legend below the axis label: 0.5 inch under the axes
    fig.tight_layout()
    below = 0.5 / (ax.get_position().height * fig.get_figheight())
    ax.legend(handles=[
        Patch(color=BIND, label='binding held (REGISTER 200)'),
        Patch(color=BAD, alpha=0.2, label='fault'),
        Line2D([], [], color='black', ls='--', label="serreg's move"),
        Line2D([], [], marker='v', ls='', color=OK,
               label='probe (REGISTER expires=0): 200'),
        Line2D([], [], marker='o', ls='', color=OK, ms=4,
               label='OPTIONS (check; probe of a tier that failed '
               'its check): 200'),
        Line2D([], [], marker='s', ls='', color=BAD,
               label='other answer / failed REGISTER (x)'),
        Line2D([], [], marker='s', ls='', color=NONE, label='no answer'),
    ], fontsize=7, loc='upper center', bbox_to_anchor=(0.5, -below),
        ncol=4, frameon=False)
    fig.savefig(path, bbox_inches='tight')
    plt.close(fig)
    return path
