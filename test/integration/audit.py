"""The binding auditor: "registered" means the registrar holds the binding.

While a test runs, a background thread of its RigSession (conftest.py)
samples about once a second, for every running baresip of the test that
loaded serreg, `serreg json` (each account: aor, tier, role, state, the
servers of a set with `in_use`) and the location table of each live
registrar (Kamailio, not an edge) that one of those accounts uses: one
`kamcmd ul.dump` per registrar and sample, bounded by RPC_TIMEOUT.  A
registrar that is stopped or frozen (or does not answer in time) is not
asked and its checks are left out of that sample; nothing here ever
blocks the test.

Where an account's binding must be (its *holder*): for an AoR by IP, the
registrar at the AoR's host:port (or the TLS port of one); for a domain
AoR with a server set, the server `in_use` of the set; for a domain AoR
without a set, the registrars on the AoR's port (any, without a port);
for an outbound account (RFC 5626, through edges), the AoR names the
registrar behind the edges, which holds one binding per flow (reg-id).
A binding is *ours* when its Contact's user part starts with the
account's user and its host:port and transport are the baresip's SIP
listener (127.0.0.1:sip_port, TLS on sip_port+1) and the account's
transport.

Two rules, each with a bound per baresip:

1. serreg reports the account `registered` while its holder (asked,
   answering) has no binding of ours, for longer than
   repair_bound() = probe timeout + 1 s.
2. a registrar of the account (the AoR's registrar, any server of its
   set) holds a binding of ours while serreg reports the account not
   registered (standby, dead, failed...: any state but registered,
   registering, verifying), or while it is registered on another server
   of its set, for longer than unregister_window() = Timer F (32 s) +
   probe timeout + 2 s.

A divergence is a run of samples that break one rule for one (baresip,
account, registrar, rule); it ends at the first sample that keeps the
rule, and for the registrar's sake also at a sample where the registrar
could not be asked (a frozen registrar keeps bindings).  Its length is
last - first bad sample, so the sampling can only make it shorter than
the truth, never report one that was not there.

A test that causes a divergence on purpose declares it:
    rig_session.audit.expect(aor=..., registrar=..., rule=..., until=...,
                             reason='...')
(bad samples matching it are excused: they neither start nor extend a
divergence), or switches the auditor off with the marker
    @pytest.mark.audit_off('reason')
audit.divergences() gives every divergence so far (also short ones;
excused samples start none), audit.samples every Sample, for a test's
own asserts; a test that asserts on a divergence over its bound takes
it with divergence.acknowledge('reason').  At teardown (before the
registrars are healed) the sampling stops and every divergence over its
bound that is not acknowledged fails the test with a report: rule,
baresip, account, registrar, since when, and the samples.
"""

import json
import os
import re
import threading
import time

import rig

# SERREG_AUDIT=0 switches the auditor off for a whole run (to measure
# what it costs; never to make tests pass)
ENABLED = os.environ.get('SERREG_AUDIT', '1') != '0'
INTERVAL = 1.0          # [s] between two samples
RPC_TIMEOUT = 1.0       # [s] kamcmd ul.dump of one registrar
STATUS_TIMEOUT = 2.0 * rig.SLOWDOWN   # [s] `serreg json` of one baresip
TIMER_F = 32            # [s] 64*T1: a UDP non-INVITE transaction's life
DEFAULT_PROBE_TIMEOUT = 5   # [s] serreg_probe_timeout's default
# states in which baresip may hold (or be getting) a binding
BOUND_STATES = ('registered', 'registering', 'verifying')


def probe_timeout_of(b):
    """serreg_probe_timeout of a rig.Baresip's config (the last line
    that sets it), DEFAULT_PROBE_TIMEOUT if none."""
    val = DEFAULT_PROBE_TIMEOUT
    for line in b.config:
        f = line.split()
        if len(f) >= 2 and f[0] == 'serreg_probe_timeout':
            try:
                val = int(f[1])
            except ValueError:
                pass
    return val


def repair_bound(probe_timeout):
    """Rule 1's bound [s]: how long serreg may report `registered` on a
    registrar that holds no binding of the account.  serreg promises to
    notice a lost binding within one probe (a REGISTER that is answered,
    or not, within serreg_probe_timeout) and to act on the answer at
    once; 1 s covers the REGISTER's own round trip and the sampling of
    the two sides at slightly different moments."""
    return probe_timeout + 1


def unregister_window(probe_timeout):
    """Rule 2's bound [s]: how long a registrar may keep a binding of
    ours for an account serreg reports not registered there.  Leaving a
    registrar, baresip un-REGISTERs; over UDP libre retransmits that
    un-REGISTER until Timer F (32 s), so a registrar that missed the
    first sends may remove the binding only then; serreg's probe of it
    (one probe timeout) and 2 s of margin (sampling, load) follow."""
    return TIMER_F + probe_timeout + 2


def _parse_uri(uri):
    """(scheme, user, host, port or None, params dict) of a SIP URI."""
    uri = uri.strip().strip('<>')
    m = re.match(r'(sips?):(?:([^@;]*)@)?(\[[^\]]*\]|[^:;>]+)(?::(\d+))?'
                 r'([^>]*)', uri)
    if not m:
        return None
    params = {}
    for p in m.group(5).split(';'):
        if p:
            k, _, v = p.partition('=')
            params[k.lower()] = v.lower()
    return (m.group(1), m.group(2) or '', m.group(3).strip('[]'),
            int(m.group(4)) if m.group(4) else None, params)


def _is_ip(host):
    return bool(re.match(r'^[0-9.]+$', host)) or ':' in host


def parse_ul_dump(text):
    """kamcmd ul.dump output -> {aor user: [contact dict]} (contact dict:
    the fields of a Contact block, e.g. 'Address', 'Expires', 'Reg-Id');
    contacts whose Expires is not positive (or 'permanent') are left
    out, as rig.contacts() does."""
    res = {}
    aor = None
    cur = None
    for line in text.splitlines():
        s = line.strip()
        if s.startswith('AoR:'):
            aor = s[4:].strip()
            res.setdefault(aor, [])
            cur = None
        elif s == 'Contact: {':
            cur = {}
            if aor is not None:
                res[aor].append(cur)
        elif cur is not None and ':' in s and not s.endswith('{'):
            k, _, v = s.partition(':')
            cur[k.strip()] = v.strip()
        elif s == '}':
            cur = None
    for aor in res:
        keep = []
        for c in res[aor]:
            e = c.get('Expires', '')
            if e == 'permanent' or (e.lstrip('-').isdigit() and int(e) > 0):
                keep.append(c)
        res[aor] = keep
    return res


class Expectation:
    """A divergence a test causes on purpose (see BindingAuditor.expect)."""

    def __init__(self, aor, registrar, rule, baresip, since, until, reason):
        self.aor, self.registrar, self.rule = aor, registrar, rule
        self.baresip, self.since, self.until = baresip, since, until
        self.reason = reason

    def covers(self, t, b, aor, reg, rule):
        if self.rule is not None and self.rule != rule:
            return False
        if self.baresip is not None and self.baresip is not b:
            return False
        if self.registrar is not None and self.registrar is not reg:
            return False
        if self.aor is not None and self.aor not in (aor,
                                                     rig._user_of(aor)):
            return False
        if self.since is not None and t < self.since:
            return False
        return self.until is None or t <= self.until

    def end(self, t=None):
        """The divergence is over (now, or at time.time() value t):
        later samples are no longer excused."""
        self.until = time.time() if t is None else t

    def __repr__(self):
        return ('expect(aor=%r, registrar=%r, rule=%r, until=%r: %s)'
                % (self.aor, getattr(self.registrar, 'name', None),
                   self.rule, self.until, self.reason))


class Sample:
    """One check of one (baresip, account, registrar) at time t.

    state/role/tier: serreg's; holder: the registrar is where the
    binding must be while registered; ours: our contacts there
    (Address;reg-id=N strings); bad: the rule this sample breaks
    (1, 2) or 0; excused: an Expectation covers it."""

    __slots__ = ('t', 'baresip', 'aor', 'registrar', 'state', 'role',
                 'tier', 'holder', 'ours', 'bad', 'excused')

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))

    def line(self, t0):
        return ('  %+8.2f s %-12s %-8s tier %s %s %s: %s%s%s' % (
            self.t - t0, self.state, self.role, self.tier,
            self.registrar.name,
            'holder' if self.holder else 'other ',
            ', '.join(self.ours) if self.ours else 'no binding of ours',
            ' BAD(rule %d)' % self.bad if self.bad else '',
            ' excused' if self.excused else ''))


class Divergence:
    """A run of bad samples for one (baresip, aor, registrar, rule)."""

    def __init__(self, key, bound, first):
        self.baresip, self.aor, self.registrar, self.rule = key
        self.bound = bound
        self.first = first.t
        self.last = first.t
        self.samples = [first]
        self.open = True
        self.acknowledged = None    # reason, once a test has

    @property
    def duration(self):
        return self.last - self.first

    @property
    def failed(self):
        """Longer than its bound (acknowledged or not)."""
        return self.duration > self.bound

    def acknowledge(self, reason):
        """A test that asserted on this divergence takes it: it no
        longer fails the test."""
        if not reason:
            raise ValueError('acknowledge: give a reason')
        self.acknowledged = reason

    def report(self, t0):
        what = ('serreg reports the account registered there, the '
                'registrar holds no binding of its Contact'
                if self.rule == 1 else
                'the registrar holds a binding of its Contact, serreg '
                'reports it %s' % self.samples[-1].state)
        return ('rule %d: %r account %s, registrar %s (%s:%d): %s for '
                '%.1f s > bound %.1f s, from %s (%+.1f s into the test) '
                'to %s%s\nsamples:\n%s' % (
                    self.rule, self.baresip, self.aor, self.registrar.name,
                    self.registrar.host, self.registrar.port, what,
                    self.duration, self.bound,
                    _clock(self.first), self.first - t0,
                    _clock(self.last),
                    ' (still at the end of the test)' if self.open else '',
                    '\n'.join(s.line(t0) for s in self.samples[-40:])))


def _clock(t):
    return time.strftime('%H:%M:%S', time.localtime(t)) + (
        '.%03d' % int((t % 1) * 1000))


class BindingAuditor:
    """Samples serreg's state and the registrars' bindings of one
    RigSession (see the module doc).  on: False with the marker
    audit_off."""

    def __init__(self, session, on=True, reason=''):
        self.session = session
        self.on = on
        self.off_reason = reason
        self.samples = []
        self.expectations = []
        self._open = {}             # key -> Divergence
        self._closed = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        self.t0 = time.time()
        self.ticks = 0
        self.tick_seconds = 0.0     # time spent sampling

    # -- API for tests ------------------------------------------------

    def expect(self, aor=None, registrar=None, rule=None, until=None,
               since=None, baresip=None, reason=''):
        """Declare a divergence this test causes on purpose: bad samples
        of an account (aor: 'sip:...' or its user; None: any), at a
        registrar (a rig.Kamailio; None: any), of a rule (1, 2; None:
        both), of a baresip (None: any), taken between since and until
        (time.time() values; None: from the start / to the end of the
        test) are excused.  reason: why (shown in reports).  Returns
        the Expectation: its end() closes it when the test has seen the
        divergence end."""
        if not reason:
            raise ValueError('audit.expect: give a reason')
        e = Expectation(aor, registrar, rule, baresip, since, until,
                        reason)
        with self._lock:
            self.expectations.append(e)
        return e

    def divergences(self, failed=None):
        """Every divergence so far (oldest first), open ones included;
        failed=True: only those longer than their bound."""
        with self._lock:
            ds = sorted(self._closed + list(self._open.values()),
                        key=lambda d: d.first)
        if failed is not None:
            ds = [d for d in ds if d.failed == failed]
        return ds

    # -- the thread -----------------------------------------------------

    def start(self):
        if not self.on or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name='audit',
                                        daemon=True)
        self._thread.start()

    def stop(self):
        """Stop sampling (before teardown heals the registrars); close
        the divergences still open."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3 * STATUS_TIMEOUT + 10)
        with self._lock:
            self._closed += self._open.values()
            self._open = {}

    def report(self):
        """The failures as text ('' if none)."""
        bad = [d for d in self.divergences(failed=True)
               if not d.acknowledged]
        if not bad:
            return ''
        with self._lock:
            exp = list(self.expectations)
        return ('binding auditor: %d divergence(s) over their bound '
                '(%d samples in %d ticks)\n' % (len(bad), len(self.samples),
                                                self.ticks)
                + '\n'.join(d.report(self.t0) for d in bad)
                + ''.join('\ndeclared: %r' % e for e in exp))

    def _run(self):
        while not self._stop.is_set():
            t = time.monotonic()
            try:
                self.sample()
            except Exception as e:      # never break the test
                print('audit: sample failed: %r' % e)
            dt = time.monotonic() - t
            self.ticks += 1
            self.tick_seconds += dt
            self._stop.wait(max(0.05, INTERVAL - dt))

    # -- one sample ---------------------------------------------------

    def _registrars(self):
        return [k for k in self.session.kamailios
                if not isinstance(k, rig.EdgeProxy)]

    def _find(self, host, port):
        for k in self._registrars():
            if k.host == host and port in (k.port, k.tls_port):
                return k
        return None

    def _accounts(self, b):
        """serreg's accounts of b: list of dicts, None if no answer."""
        if not (b.serreg and b.running and b.sock is not None
                and not b._eof):
            return None
        try:
            r = b.command('serreg', 'json', timeout=STATUS_TIMEOUT)
        except Exception:
            return None
        if not r.get('ok'):
            return None
        try:
            st = json.loads(r['data'])
        except ValueError:
            return None
        if st.get('ladders'):
            accs = []
            for lad in st['ladders']:
                accs += lad.get('accounts', [])
            return accs
        return st.get('accounts', [])

    def _transport_of(self, b, aor):
        """The transport of b's account line for aor ('udp', 'tcp',
        'tls'): that of its first outbound proxy if it has one (the
        Contact's, also for RFC 5626 flows), else the AoR's; None (any)
        if no line names the AoR, or for a domain without a transport
        parameter (NAPTR chooses)."""
        for line in b.accounts:
            m = re.match(r'\s*<([^>]*)>', line)
            if not m:
                continue
            p = _parse_uri(m.group(1))
            if p is None:
                continue
            plain = '%s:%s@%s%s' % (p[0], p[1], p[2],
                                    ':%d' % p[3] if p[3] else '')
            if plain != aor:
                continue
            ob = re.search(r';outbound1?="?<?(sips?:[^">;]*[^">]*)', line)
            if ob:
                q = _parse_uri(ob.group(1))
                if q is not None:
                    return q[4].get('transport',
                                    'tls' if q[0] == 'sips' else 'udp')
            if 'transport' in p[4]:
                return p[4]['transport']
            if p[0] == 'sips':
                return 'tls'
            return 'udp' if _is_ip(p[2]) else None
        return None

    def _places(self, acc):
        """[(registrar, holder)] for an account of serreg json: where
        its binding must be (holder) or must not be otherwise."""
        p = _parse_uri(acc.get('aor', ''))
        if p is None:
            return []
        _, _, host, port, _ = p
        if acc.get('servers'):
            res = []
            for s in acc['servers']:
                m = re.match(r'(\w+):(.*):(\d+)$', s.get('addr', ''))
                if not m:
                    continue
                k = self._find(m.group(2).strip('[]'), int(m.group(3)))
                if k is not None:
                    res.append((k, bool(s.get('in_use'))))
            return res
        if _is_ip(host):
            k = self._find(host, port or 5060)
            return [(k, True)] if k is not None else []
        # a domain without a set: one server, that of the AoR's port
        ks = [k for k in self._registrars()
              if port is None or port in (k.port, k.tls_port)]
        return [(k, True) for k in ks] if len(ks) == 1 else []

    def _ours(self, b, user, transport, contacts):
        """Our contacts among a registrar's contacts of user."""
        res = []
        for c in contacts:
            p = _parse_uri(c.get('Address', ''))
            if p is None:
                continue
            scheme, cuser, host, port, params = p
            if not cuser.startswith(user) or host != rig.HOST:
                continue
            ctp = params.get('transport',
                             'tls' if scheme == 'sips' else 'udp')
            if transport is not None and ctp != transport:
                continue
            ports = (b.sip_port + 1,) if ctp == 'tls' else (b.sip_port,)
            if port not in ports:
                continue
            rid = c.get('Reg-Id', '0')
            res.append(c['Address'] + (';reg-id=%s' % rid
                                       if rid not in ('', '0') else ''))
        return res

    def sample(self):
        """Take one sample now (the thread does, once a second)."""
        work = []       # (b, acc, user, transport, [(k, holder)])
        answered = set()
        for b in list(self.session.baresips):
            accs = self._accounts(b)
            if accs is None:
                continue
            answered.add(b)
            for acc in accs:
                places = self._places(acc)
                if not places:
                    continue
                if not any(h for _, h in places):
                    # a set with no server in use: where the binding
                    # must be is not known
                    places = [(k, None) for k, _ in places]
                p = _parse_uri(acc['aor'])
                work.append((b, acc, p[1],
                             self._transport_of(b, acc['aor']), places))
        tables = {}
        for k in {k for w in work for k, _ in w[4]}:
            if not k.running or k.frozen:
                continue
            try:
                tables[k] = parse_ul_dump(k.rpc('ul.dump',
                                                timeout=RPC_TIMEOUT))
            except Exception:
                continue
        now = time.time()
        seen = set()
        with self._lock:
            for b, acc, user, transport, places in work:
                state = acc.get('state')
                pt = probe_timeout_of(b)
                for k, holder in places:
                    if k not in tables or k.frozen or not k.running:
                        continue
                    ours = self._ours(b, user, transport,
                                      tables[k].get(user, []))
                    bad = 0
                    if state == 'registered' and holder and not ours:
                        bad = 1
                    elif ours and (state not in BOUND_STATES
                                   or (state == 'registered'
                                       and holder is False)):
                        bad = 2
                    s = Sample(t=now, baresip=b, aor=acc['aor'],
                               registrar=k, state=state,
                               role=acc.get('role'), tier=acc.get('tier'),
                               holder=holder, ours=ours, bad=bad)
                    self.samples.append(s)
                    for rule in (1, 2):
                        key = (b, acc['aor'], k, rule)
                        seen.add(key)
                        if bad != rule:
                            d = self._open.pop(key, None)
                            if d is not None:
                                d.open = False
                                self._closed.append(d)
                            continue
                        s.excused = any(e.covers(now, b, acc['aor'], k,
                                                 rule)
                                        for e in self.expectations)
                        if s.excused:
                            d = self._open.get(key)
                            if d is not None:
                                d.samples.append(s)
                            continue
                        d = self._open.get(key)
                        if d is None:
                            bound = (repair_bound(pt) if rule == 1
                                     else unregister_window(pt))
                            self._open[key] = Divergence(key, bound, s)
                        else:
                            d.last = now
                            d.samples.append(s)
            # not checked this time: the registrar was not asked
            # (frozen, stopped, slow: a frozen one keeps bindings) or the
            # account is gone; the divergence ends here.  A baresip that
            # did not answer `serreg json` leaves its own open.
            for key in list(self._open):
                if key not in seen and key[0] in answered:
                    d = self._open.pop(key)
                    d.open = False
                    self._closed.append(d)
