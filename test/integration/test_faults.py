"""The fault matrix: registrars that die, hang, refuse or talk nonsense.

Each case breaks a registrar of the current tier and/or a standby one
(kamailio via rig.py, or the scripted peer of sippeer.py), then checks:
baresip did not crash (the conftest teardown checks crash and quit),
no stuck state (`serreg json` sensible, probes and checks go on at their
rate), the other accounts unaffected (their bindings at the registrar
intact), and the ladder right (the current tier is the expected one).

Timings: check every 1 s, probes every 1 s (fbregint=1), probe timeout
1 s, failback hold 1, regint 10 (a refresh every 9 s).
"""

import collections
import time

import pytest

from rig import PASSWORD, account_line, aor, wait_until

# (faults of one registrar or a scripted peer, not topologies: digest
# auth only, the rig's default; the topology modules run both modes)

CFG = ['serreg_check_interval 1', 'serreg_probe_timeout 1',
       'serreg_failback_hold 1', 'serreg_backoff_max 4']
NO_ANSWER = 'Connection timed out'
GONE = (NO_ANSWER, 'Connection refused')


def accounts(bs):
    """serreg json accounts by AoR."""
    return {x['aor']: x for x in bs.status()['accounts']}


def acc(bs, user, reg):
    """The serreg json entry of user's account at registrar reg."""
    return accounts(bs)[aor(user, reg.port)]


def acc_is(bs, user, reg, state, answer=None):
    """True if the account is in state (and its last answer is one of
    answer: a string or a tuple of strings)."""
    a = acc(bs, user, reg)
    if isinstance(answer, str):
        answer = (answer,)
    return a['state'] == state and (answer is None
                                    or a['answer'] in answer)


def sane(bs, current):
    """serreg json is a settled ladder on tier current: registered, no
    target, no backoff, and the current role on that tier only."""
    st = bs.status()
    assert st['state'] == 'registered', st
    assert st['current'] == current and st['target'] == -1, st
    assert st['backoff'] == 0, st
    for x in st['accounts']:
        assert (x['role'] == 'current') == (x['tier'] == current), st
    return st


def moves(bs, since):
    """(from, to, reason) of the moves since, the start move left out."""
    return [(m['from'], m['to'], m['reason']) for m in bs.moves(since)
            if m['reason'] != 'start']


def probes_per_callid(reqs):
    """Requests grouped by Call-ID (one probe = one Call-ID, its digest
    resends included): {callid: number of distinct CSeqs}."""
    seen = collections.defaultdict(set)
    for r in reqs:
        seen[r.callid].add(r.cseq)
    return {k: len(v) for k, v in seen.items()}


def fresh(reqs, since):
    """The requests of reqs at or after since whose Call-ID was not
    seen before: new probes, not the retransmissions of older ones
    (libre keeps retransmitting a request serreg gave up on until its
    Timer F, 32 s)."""
    old = {r.callid for r in reqs if r.time < since}
    return [r for r in reqs if r.time >= since and r.callid not in old]


def answered_lately(bs, user, reg, secs=3, limit=3):
    """Over secs seconds, the account's last answer is never older than
    limit seconds: its probes (or checks) go on."""
    ages = []
    for _ in range(secs):
        time.sleep(1)
        ages.append(acc(bs, user, reg)['answer_age'])
    assert max(ages) <= limit, ages
    return ages


def ladder(registrars, baresip, config=CFG, regint=10):
    """Tier 0: alice@A and bob@B, tier 1: alice@C; Cisco mode.

    Returns bs, A, B, C once tier 0 is registered and C alive."""
    a, b, c = registrars(3)
    bs = baresip([account_line('alice', a, prio=0, fbregint=1,
                               regint=regint),
                  account_line('bob', b, prio=0, fbregint=1,
                               regint=regint),
                  account_line('alice', c, prio=1, fbregint=1,
                               regint=regint)], config)
    assert wait_until(lambda: a.has_binding('alice')
                      and b.has_binding('bob'), 5)
    assert wait_until(lambda: acc_is(bs, 'alice', c, 'alive', '200'), 4)
    sane(bs, 0)
    return bs, a, b, c


# ---------------------------------------------------------------------
# kamailio: killed, frozen, restarted
# ---------------------------------------------------------------------

DOWN = {'kill': lambda r: r.stop(), 'freeze': lambda r: r.freeze()}
UP = {'kill': lambda r: r.start(), 'freeze': lambda r: r.thaw()}


@pytest.mark.parametrize('fault', ['kill', 'freeze'])
def test_registrar_down_current_and_standby(registrars, baresip, fault):
    bs, a, b, c = ladder(registrars, baresip)
    down, up = DOWN[fault], UP[fault]

    # A (current tier, with B) and C (standby) go down
    t0 = time.time()
    down(a)
    down(c)
    assert wait_until(lambda: acc_is(bs, 'alice', a, 'failed', GONE), 5)
    assert wait_until(lambda: acc_is(bs, 'alice', c, 'dead', GONE), 5)
    answered_lately(bs, 'alice', c)
    # bob@B carries tier 0 alone (R2): no move, his binding intact
    sane(bs, 0)
    assert acc_is(bs, 'bob', b, 'registered')
    assert b.has_binding('bob')
    assert moves(bs, t0) == []

    # C back, then B down too: tier 0 has failed, tier 1 takes over
    up(c)
    assert wait_until(lambda: acc_is(bs, 'alice', c, 'alive', '200'), 4)
    t1 = time.time()
    down(b)
    mv = bs.wait_move(1, 6, t1)
    assert mv and mv[-1]['from'] == '0', moves(bs, t0)
    assert mv[-1]['reason'] == 'tier_failed'
    assert wait_until(lambda: c.has_binding('alice'), 5)
    assert wait_until(lambda: bs.status()['state'] == 'registered', 3)
    sane(bs, 1)

    # A and B back: failback to tier 0, C left
    t2 = time.time()
    up(a)
    up(b)
    mv = bs.wait_move(0, 8, t2)
    assert mv and mv[-1]['reason'] == 'failback', moves(bs, t0)
    assert wait_until(lambda: a.has_binding('alice')
                      and b.has_binding('bob'), 5)
    assert wait_until(lambda: not c.has_binding('alice'), 5)
    assert wait_until(lambda: acc_is(bs, 'alice', c, 'alive'), 4)
    sane(bs, 0)
    assert [m[:2] for m in moves(bs, t0)] == [('0', '1'), ('1', '0')]


def test_registrar_restarted_mid_transaction(registrars, baresip,
                                            rig_session):
    """A check to A and a probe to C are in flight when both registrars
    restart (fresh processes, no bindings): the retransmissions reach
    the new ones and are answered before the probe timeout (5 s here),
    so nothing fails; A gets alice's binding back at the next refresh."""
    bs, a, b, c = ladder(registrars, baresip,
                         ['serreg_check_interval 1',
                          'serreg_probe_timeout 5',
                          'serreg_failback_hold 1',
                          'serreg_backoff_max 4'])
    t0 = time.time()
    a.freeze()
    c.freeze()
    time.sleep(1.5)             # a check and a probe sent, unanswered
    assert acc(bs, 'alice', c)['answer_age'] >= 1
    # the new A has no binding of alice until baresip's next refresh,
    # and serreg (rightly) does not notice: UDP, no check fails
    lost = rig_session.audit.expect(
        aor='alice', registrar=a, rule=1,
        reason='A restarted with an empty location table: alice is bound '
               'again at the next refresh, not by serreg')
    a.restart()
    c.restart()
    t1 = time.time()

    assert wait_until(lambda: c.probes('alice', t1), 5)
    assert wait_until(lambda: a.requests('alice', 'OPTIONS', t1), 5)
    time.sleep(2)
    assert acc_is(bs, 'alice', a, 'registered')
    assert acc_is(bs, 'alice', c, 'alive', '200')
    assert acc(bs, 'alice', c)['answer_age'] <= 3
    assert moves(bs, t0) == []
    # the new A lost the binding; baresip's refresh (every 9 s) puts
    # it back, nothing else was disturbed
    assert wait_until(lambda: a.has_binding('alice'), 12)
    lost.end()
    assert b.has_binding('bob') and not c.has_binding('alice')
    sane(bs, 0)
    assert moves(bs, t0) == []


# ---------------------------------------------------------------------
# kamailio: final answers (503 with and without Retry-After, 403, 423,
# 401 forever)
# ---------------------------------------------------------------------

@pytest.mark.parametrize('code', [503, 403, 423])
def test_registrar_answers_code(registrars, baresip, code):
    """A (current tier) answers code to REGISTER and OPTIONS: 503 fails
    its check at once; 403 and 423 (no Min-Expires) are answers, so the
    check stays happy and the refresh REGISTER (regint 4 here) fails.
    C (standby) answers the same to its probes, with Retry-After: 3 for
    503."""
    bs, a, b, c = ladder(registrars, baresip, regint=4)
    t0 = time.time()
    retry_after = 3 if code == 503 else None
    a.set_reply(code)
    c.set_reply(code, retry_after=retry_after)
    assert wait_until(lambda: acc_is(bs, 'alice', c, 'dead', str(code)),
                      4)
    assert wait_until(lambda: acc_is(bs, 'alice', a, 'failed', str(code)),
                      3 if code == 503 else 6)

    t1 = time.time()
    time.sleep(4.5)
    pr = c.probes('alice', t1)
    gaps = [y.time - x.time for x, y in zip(pr, pr[1:])]
    if retry_after:
        # Retry-After postpones the 1 s probe interval (R9)
        assert 1 <= len(pr) <= 2 and all(g >= 2.9 for g in gaps), gaps
    else:
        # a 4xx does not end probing (R9), and no fast loop either
        assert 3 <= len(pr) <= 6, gaps
    # one REGISTER per probe: no digest loop on an injected answer
    assert all(n == 1 for n in
               probes_per_callid(c.requests('alice', 'REGISTER',
                                            t1)).values())
    sane(bs, 0)
    assert acc_is(bs, 'bob', b, 'registered') and b.has_binding('bob')
    assert moves(bs, t0) == []
    # baresip's own REGISTERs for alice@A back off too (no fast loop)
    assert len(a.registers('alice', t1)) <= 2
    assert b.has_binding('bob')     # refreshed meanwhile


@pytest.mark.auth_modes('auth')
def test_wrong_password_401_forever(registrars, baresip):
    """A (tier 0, with B) and C (tier 1) do not accept alice's password:
    every REGISTER is challenged, the resend with credentials gets 401
    again.  alice@A fails at once, the probes to C are 401, both with
    one resend and no more; bob@B is untouched."""
    a, c = registrars(2, password='not-' + PASSWORD)
    b, = registrars(1)
    t0 = time.time()
    bs = baresip([account_line('alice', a, prio=0, fbregint=1),
                  account_line('bob', b, prio=0, fbregint=1),
                  account_line('alice', c, prio=1, fbregint=1)], CFG)
    assert wait_until(lambda: b.has_binding('bob'), 5)
    assert wait_until(lambda: acc_is(bs, 'alice', a, 'failed', '401'), 5)
    assert wait_until(lambda: acc_is(bs, 'alice', c, 'dead', '401'), 4)

    t1 = time.time()
    time.sleep(4)
    per = probes_per_callid(c.requests('alice', 'REGISTER', t1))
    # each probe: REGISTER, 401, REGISTER with credentials, 401, stop
    assert 2 <= len(per) <= 6 and all(n <= 2 for n in per.values()), per
    assert any(r.authorized for r in c.requests('alice', 'REGISTER', t1))
    assert not a.has_binding('alice') and not c.has_binding('alice')
    st = sane(bs, 0)
    assert acc_is(bs, 'bob', b, 'registered') and b.has_binding('bob')
    assert moves(bs, t0) == []
    assert len(st['accounts']) == 3


def test_423_with_min_expires_is_honoured(registrars, baresip, peer):
    """A registrar that wants Min-Expires: 20 (regint is 10): libre
    registers again with expires=20; no failure, no move; probes
    (expires=0) and checks are answered normally."""
    k, = registrars(1)
    p = peer('min_expires', min=20)
    bs = baresip([account_line('alice', p.port, prio=0, fbregint=1),
                  account_line('alice', k, prio=1, fbregint=1)], CFG)
    assert wait_until(lambda: p.has_binding('alice'), 5), p.log()
    regs = p.registers(user='alice')
    assert [r.answer for r in regs][:2] == ['423', '200'], p.log()
    assert [r.expires for r in regs][:2] == [10, 20], p.log()
    t1 = time.time()
    # checks at their interval (1 s): two within 3.5 s
    assert wait_until(lambda: len(p.requests('OPTIONS', t1)) >= 2, 3.5), \
        p.log()
    # the query after the start's un-REGISTER finds the binding: the
    # 20 s binding is not registered again
    assert [r.expires for r in p.registers(user='alice')
            if r.expires][2:] == [], p.log()
    assert wait_until(lambda: acc_is(bs, 'alice', k, 'alive', '200'), 3)
    assert acc_is(bs, 'alice', p, 'registered')
    sane(bs, 0)
    assert moves(bs, 0) == []
    assert not k.has_binding('alice')


# ---------------------------------------------------------------------
# scripted peer: garbage, truncated, mismatched answers
# ---------------------------------------------------------------------

@pytest.mark.parametrize('mode,fbregint', [
    ('garbage', 1), ('truncated', 1), ('wrong_method', 1),
    ('garbage', None)], ids=['garbage-cisco', 'truncated-cisco',
                             'wrong_method-cisco', 'garbage-serial'])
def test_peer_current_tier_talks_nonsense(registrars, baresip, peer, mode,
                                          fbregint):
    """The registrar of tier 0 (the scripted peer) starts answering
    with bytes no SIP stack can match to the request: the check times
    out, tier 1 takes over.  In Cisco mode tier 0 stays on probes at
    their rate and is taken back once it answers; in serial mode it is
    left alone and tier 1 stays."""
    k, = registrars(1)
    p = peer()
    bs = baresip([account_line('alice', p.port, prio=0, fbregint=fbregint),
                  account_line('alice', k, prio=1, fbregint=fbregint)],
                 CFG)
    assert wait_until(lambda: p.has_binding('alice'), 5), p.log()
    sane(bs, 0)

    t0 = time.time()
    p.set(mode)
    mv = bs.wait_move(1, 5, t0)
    assert mv and mv[-1]['from'] == '0', p.log()
    assert mv[-1]['reason'] == 'tier_failed'
    assert mv[-1]['answer'] == NO_ANSWER
    assert wait_until(lambda: k.has_binding('alice'), 5)
    assert wait_until(lambda: bs.status()['state'] == 'registered', 3)
    sane(bs, 1)

    t1 = time.time()
    time.sleep(4)
    # it failed its check: it is probed with the check (OPTIONS)
    assert fresh(p.probes(), t1) == [], p.log()
    new = {r.callid for r in fresh(p.requests('OPTIONS'), t1)}
    t2 = time.time()
    if fbregint:
        # a probe every 1 s + 1 s timeout: 2..4 in 4 s, never a flood
        assert 2 <= len(new) <= 4, p.log()
        assert acc_is(bs, 'alice', p, 'dead', NO_ANSWER)
        p.set('ok')
        mv = bs.wait_move(0, 6, t2)
        assert mv and mv[-1]['reason'] == 'failback'
        assert wait_until(lambda: p.has_binding('alice'), 5)
        assert wait_until(lambda: not k.has_binding('alice'), 5)
        assert wait_until(lambda: bs.status()['state'] == 'registered', 3)
        sane(bs, 0)
    else:
        # serial mode: no probes; tier 1 stays when tier 0 is back
        assert new == set(), p.log()
        p.set('ok')
        time.sleep(3)
        assert acc_is(bs, 'alice', p, 'dead', NO_ANSWER)
        sane(bs, 1)
        assert k.has_binding('alice')
        assert moves(bs, t2) == []


# (mode, opts, expected state, expected answer, most requests per probe)
OWN_COPIES = 2      # sends of an unanswered probe within 1 s (T1 0.5 s)

STANDBY_SCRIPT = [
    # libre matches an answer to its transaction by Via branch and CSeq
    # method (RFC 3261 17.1.3): a wrong Call-ID or CSeq number is still
    # this registrar's answer
    ('wrong_callid', {}, 'alive', '200', 1),
    ('wrong_cseq', {}, 'alive', '200', 1),
    # credentials refused: one resend, then the 401 is the answer
    ('challenge', {}, 'dead', '401', 2),
    # "stale" every time: libre stops the loop at 16 requests
    ('challenge', {'stale': True}, 'dead', '401', 16),
    ('code', {'code': 503}, 'dead', '503', 1),
    # no answer: serreg sends the probe again itself until its deadline
    # (T1 = 0.5 s: at 0 and 0.5 s with CFG's 1-s timeout), each copy a
    # new CSeq on the probe's Call-ID; libre's transaction would have
    # gone on until Timer F
    ('garbage', {}, 'dead', NO_ANSWER, OWN_COPIES),
    ('truncated', {}, 'dead', NO_ANSWER, OWN_COPIES),
    # a provisional answer only: the probe's own deadline still applies
    # (after a 1xx, the next copy would be T2 = 4 s later)
    ('trying', {}, 'dead', NO_ANSWER, 1),
    ('ok', {}, 'alive', '200', 1),
]


def test_peer_standby_answers_script(registrars, baresip, peer):
    """A standby registrar (the scripted peer, tier 1) runs through a
    script of bad answers: each gives the expected probe outcome, probing
    goes on at its rate without loops, and tier 0 is never disturbed."""
    a, = registrars(1)
    p = peer()
    bs = baresip([account_line('alice', a, prio=0, fbregint=1),
                  account_line('bob', a, prio=0, fbregint=1),
                  account_line('alice', p.port, prio=1, fbregint=1)], CFG)
    assert wait_until(lambda: a.has_binding('alice')
                      and a.has_binding('bob'), 5)
    assert wait_until(lambda: acc_is(bs, 'alice', p, 'alive', '200'), 4)
    t0 = time.time()
    for mode, opts, state, answer, most in STANDBY_SCRIPT:
        p.set(mode, **opts)
        t = time.time()
        ok = wait_until(lambda: acc_is(bs, 'alice', p, state, answer)
                        and acc(bs, 'alice', p)['answer_age'] == 0
                        and p.probes(t + 0.1), 5)
        assert ok, (mode, acc(bs, 'alice', p), p.log()[-2000:])
        t1 = time.time()
        time.sleep(2)
        per = probes_per_callid(fresh(p.requests('REGISTER'), t1))
        assert 1 <= len(per) <= 3, (mode, per)
        assert max(per.values()) <= most, (mode, per)
        assert acc_is(bs, 'alice', p, state, answer), mode
    sane(bs, 0)
    assert a.has_binding('alice') and a.has_binding('bob')
    assert moves(bs, t0) == []


def test_retry_after_with_params_or_comment(registrars, baresip, peer):
    """Retry-After = delta-seconds [comment] *(;param) (RFC 3261
    20.33): '3 (maintenance);duration=60' postpones the 1 s probes of
    a standby registrar by 3 s, as a bare '3' does."""
    a, = registrars(1)
    p = peer()
    bs = baresip([account_line('alice', a, prio=0),
                  account_line('alice', p.port, prio=1, fbregint=1)], CFG)
    assert wait_until(lambda: a.has_binding('alice'), 5)
    value = '3 (maintenance);duration=60'
    p.set('code', code=503, headers={'Retry-After': value})
    assert wait_until(lambda: acc_is(bs, 'alice', p, 'dead', '503'), 4)
    t1 = time.time()
    time.sleep(5)
    pr = [r for r in fresh(p.probes(), t1) if r.answer == '503']
    gaps = [y.time - x.time for x, y in zip(pr, pr[1:])]
    # without Retry-After: 5 or 6 probes in 5 s
    assert 1 <= len(pr) <= 2 and all(g >= 2.9 for g in gaps), gaps
    p.set('ok')
    assert wait_until(lambda: acc_is(bs, 'alice', p, 'alive'), 5)
    sane(bs, 0)


# ---------------------------------------------------------------------
# uadel and quit while requests hang
# ---------------------------------------------------------------------

def test_uadel_while_probe_and_check_in_flight(registrars, baresip):
    a, b, c = registrars(3)
    bs = baresip([account_line('alice', a, prio=0, fbregint=1),
                  account_line('alice', b, prio=1, fbregint=1),
                  account_line('alice', c, prio=2, fbregint=1)],
                 ['serreg_check_interval 1', 'serreg_probe_timeout 5',
                  'serreg_failback_hold 1', 'serreg_backoff_max 4'])
    assert wait_until(lambda: a.has_binding('alice'), 5)
    assert wait_until(lambda: acc_is(bs, 'alice', c, 'alive', '200'), 4)

    # a standby account whose probe hangs (C frozen) is deleted
    c.freeze()
    time.sleep(1.5)
    assert acc(bs, 'alice', c)['answer_age'] >= 1      # in flight
    r = bs.command('uadel', aor('alice', c))
    assert r['ok'], r
    assert aor('alice', c) not in accounts(bs)
    c.thaw()
    time.sleep(0.5)             # C answers what it queued
    t1 = time.time()
    time.sleep(3)
    assert c.probes('alice', t1) == []
    assert len(b.probes('alice', t1)) >= 2
    sane(bs, 0)
    assert a.has_binding('alice')

    # the current tier's only account, its check hanging (A frozen),
    # is deleted: a tier failure, tier 1 takes over
    t2 = time.time()
    a.freeze()
    time.sleep(1.5)
    r = bs.command('uadel', aor('alice', a))
    assert r['ok'], r
    mv = bs.wait_move(1, 5, t2)
    assert mv and mv[-1]['reason'] == 'account_removed', moves(bs, t2)
    assert wait_until(lambda: b.has_binding('alice'), 5)
    a.thaw()
    assert wait_until(lambda: bs.status()['state'] == 'registered', 3)
    st = sane(bs, 1)
    assert [x['aor'] for x in st['accounts']] == [aor('alice', b)]
    # nothing of the deleted accounts is left running.  A was frozen with
    # the check in flight: it reads what it queued after the thaw, and
    # libre keeps retransmitting the abandoned request until Timer F (it
    # cannot cancel a non-INVITE transaction): retransmissions of a
    # request seen before are not new requests
    time.sleep(1.0)
    t3 = time.time()
    time.sleep(2.5)
    seen = {r.callid for r in a.requests('alice', 'OPTIONS', t2)
            if r.time < t3}
    new = [r for r in a.requests('alice', 'OPTIONS', t3)
           if not (r.retrans and r.callid in seen)]
    assert new == [], [(r.retrans, r.callid, r.time - t3)
                       for r in a.requests('alice', 'OPTIONS', t2)]
    assert a.probes('alice', t3) == [] and c.probes('alice', t3) == []


def test_quit_while_probes_and_checks_hang(registrars, baresip, peer):
    """Every request serreg has out hangs (probe timeout 10 s): checks
    to the current registrar (OPTIONS unanswered, REGISTER answered so
    that baresip's own un-REGISTER is), probes to a frozen, a silent and
    a garbage-talking registrar.  quit is still prompt and clean."""
    a, b, c = registrars(3)
    p = peer()
    bs = baresip([account_line('alice', a, prio=0, fbregint=1),
                  account_line('alice', b, prio=1, fbregint=1),
                  account_line('alice', c, prio=2, fbregint=1),
                  account_line('alice', p.port, prio=3, fbregint=1)],
                 ['serreg_check_interval 1', 'serreg_probe_timeout 10'])
    assert wait_until(lambda: a.has_binding('alice'), 5)
    assert wait_until(lambda: all(acc_is(bs, 'alice', r, 'alive')
                                  for r in (b, c, p)), 4)
    a.set_silent(register=False)
    b.freeze()
    c.set_silent()
    p.set('garbage')
    time.sleep(2.5)
    st = sane(bs, 0)
    assert all(x['answer_age'] >= 1 for x in st['accounts']), st
    took = bs.quit(timeout=40)
    assert took < 5, took
    assert bs.proc.returncode == 0, bs.log()[-3000:]
    assert wait_until(lambda: not a.has_binding('alice'), 3)
    print('quit with 4 requests hanging: %.2f s' % took)


def test_options_503_register_200_does_not_flap(registrars, baresip):
    """A registrar that answers OPTIONS 503 but REGISTER 200 (e.g.
    overloaded, shedding OPTIONS): the check fails tier 0.  Its
    REGISTER probes would say alive and bring it back after the hold,
    to fail the next check, and so on.  serreg probes a tier that
    failed its check with the check itself: one move, no flapping."""
    bs, a, b, c = ladder(registrars, baresip)
    t0 = time.time()
    a.set_reply(503, register=False)
    b.set_reply(503, register=False)
    assert bs.wait_move(1, 5, t0)
    t1 = time.time()
    time.sleep(8)
    mv = moves(bs, t0)
    print('moves in 8 s: %s' % mv)
    assert mv == [('0', '1', 'tier_failed')], mv
    # tier 0 is probed with OPTIONS (1 s), not with REGISTER
    assert a.probes('alice', t1) == [] and b.probes('bob', t1) == []
    assert len(a.requests(method='OPTIONS', since=t1)) >= 4
    assert sane(bs, 1)['accounts'][0]['state'] == 'dead'

    # once it passes the check again, failback as usual
    a.set_reply(None)
    b.set_reply(None)
    assert bs.wait_move(0, 8, time.time())
    assert wait_until(lambda: a.has_binding('alice')
                      and b.has_binding('bob'), 5)


def test_quit_soon_after_failover_from_silent_registrar(registrars,
                                                       baresip):
    a, b = registrars(2)
    bs = baresip([account_line('alice', a, prio=0, fbregint=1),
                  account_line('alice', b, prio=1, fbregint=1)], CFG)
    assert wait_until(lambda: a.has_binding('alice'), 5)
    t0 = time.time()
    a.set_silent()
    assert bs.wait_move(1, 5, t0)
    assert wait_until(lambda: b.has_binding('alice'), 5)
    # the un-REGISTER of the left tier is never answered: serreg closes
    # SIP serreg_probe_timeout after quit began, not libre at Timer F
    took = bs.quit(timeout=6)       # TimeoutError (and SIGKILL) if not
    assert took < 5, took
    assert bs.proc.returncode == 0, bs.log()[-3000:]
    assert 'un-REGISTERs unanswered' in bs.log()
    print('quit with an unanswered un-REGISTER: %.2f s' % took)


def test_r53_register_503_retry_after_honoured(registrars, baresip):
    """R53 on the wire: tier 0 answers its REGISTER 503 with Retry-After:
    30 (it sheds load) when serreg has just chosen it.  baresip 1.0.0
    gives modules only "503 Service Unavailable", so serreg reads the
    Retry-After from its own query to that registrar (a REGISTER with no
    Contact).  The account is taken off baresip's retry and registers
    again 30-60 s later; meanwhile there is no failover: tier 1 sees no
    REGISTER, tier 0 stays the one being registered."""
    a, b = registrars(2)
    a.set_reply(503, retry_after=30, options=False)
    t0 = time.time()
    bs = baresip([account_line('alice', a, prio=0),
                  account_line('alice', b, prio=1)], CFG)

    assert wait_until(lambda: [r for r in a.registers('alice', t0)
                               if r.answer == 503], 10), a.requests()
    first = a.registers('alice', t0)[0]
    assert first.answer == 503

    # the overload ends; serreg still waits for the Retry-After
    time.sleep(5)
    st = bs.status()
    assert st['current'] == 0 and st['state'] == 'trying', st
    assert b.registers('alice', t0) == []
    a.set_reply(None)
    assert wait_until(lambda: a.has_binding('alice'), 60 + 10), \
        a.registers('alice', t0)

    regs = a.registers('alice', t0)
    later = [r for r in regs if r is not first]
    assert later, regs
    wait = later[0].time - first.answer_time
    print('REGISTER again %.1f s after the 503 (Retry-After 30)' % wait)
    assert 30 - 0.5 <= wait <= 60 + 3, regs
    # no failover meanwhile, and none after
    assert b.registers('alice', t0) == []
    assert moves(bs, t0) == [], moves(bs, t0)
    assert bs.status()['current'] == 0
    # serreg's query for the Retry-After: a REGISTER without Contact,
    # answered 503 (+ Retry-After) too; it asks for no binding
    queries = [r for r in a.requests('alice', 'REGISTER', t0)
               if not r.contact]
    assert queries and queries[0].answer == 503, queries
    assert first.answer_time <= queries[0].time < later[0].time
