"""Integration-test rig: real kamailio registrars and the real baresip.

Everything runs on 127.0.0.1 (a registrar may listen on another
loopback address, e.g. HOST2 = 127.0.0.2: Kamailio(host=...)), with
ports picked at run time:

- free_port_block() / free_tcp_port(): ports that are free now and
  reserved for this process (a lock file per port, shared by every
  process that uses this rig), so two runs never pick the same port.
- Kamailio: one /usr/sbin/kamailio registrar per object (config from
  kamailio.cfg.tmpl), with fault injection at run time (set_reply,
  set_silent, freeze), the registrar's bindings read over kamcmd, and
  the log of every request it received (requests, registers, probes).
- Baresip: /usr/bin/baresip -f <confdir> with generated config and
  accounts, optionally with serreg.so, driven over ctrl_tcp (command,
  events, wait_event, quit).
- Helpers: wait_until, account_line, aor, sip_request.

Every wait is bounded in time and count.  Only processes started here
are signalled, by PID: kamailio runs in its own session, and the rig
signals exactly the live members of that session (the kamailio it
started and the children that kamailio forked).
"""

import atexit
import collections
import fcntl
import glob
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid as uuidlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODULE = os.environ.get('SERREG_MODULE',
                        os.path.join(ROOT, 'modules', 'serreg',
                                     'serreg.so'))
TEMPLATE = os.path.join(HERE, 'kamailio.cfg.tmpl')

BARESIP = '/usr/bin/baresip'
BARESIP_MODULES = '/usr/lib/baresip/modules'


def _baresip_version():
    """The baresip-core installed, as mk/serreg.mk reads it: '1.0.0'
    (Debian 12) or '1.1.0' (Debian 13)."""
    try:
        out = subprocess.run(['dpkg-query', '-W', '-f=${Version}',
                              'baresip-core'], capture_output=True,
                             text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ''
    return re.sub(r'-[^-]*$', '', re.sub(r'^\d+:', '', out))


BARESIP_VERSION = _baresip_version()


def serreg_event(e):
    """(kind, 'key=value ...') of one of serreg's own ctrl_tcp events,
    else None: baresip 1.0.0 carries them as type '?', param 'serreg
    KIND key=value ...' (UA_EVENT_MAX), 1.1.0 as type 'MODULE', param
    'serreg,KIND,key=value ...' (module_event())."""
    p = e.get('param', '')
    if e.get('type') == 'MODULE' and p.startswith('serreg,'):
        parts = p.split(',', 2)
    elif e.get('type') == '?' and p.startswith('serreg '):
        parts = p.split(' ', 2)
    else:
        return None
    return parts[1], parts[2] if len(parts) > 2 else ''
KAMAILIO = '/usr/sbin/kamailio'
KAMCMD = '/usr/sbin/kamcmd'
KAMAILIO_MODULES = (sorted(glob.glob('/usr/lib/*/kamailio/modules'))
                    or ['/usr/lib/x86_64-linux-gnu/kamailio/modules'])[0]

HOST = '127.0.0.1'
# a second loopback address (Linux routes all of 127.0.0.0/8 over lo:
# a socket bound to HOST reaches it): registrars of one DNS name with
# several addresses, on the same port as one on HOST
HOST2 = '127.0.0.2'

# Do registrars challenge REGISTER (digest auth)?  Many in the field do
# not (IP-trusted trunks, SBCs, intercoms on a private network), and the
# two behave differently (a replaced reg client's late requests are not
# held back by a challenge).  The default of every Kamailio; conftest's
# `auth` parameter sets it per test.
AUTH = True
PASSWORD = 'testpass'
DEFAULT_REGINT = 10         # [s] short, so refreshes notice faults
ANSI = re.compile(r'\x1b\[[0-9;]*m')

# Opt-in memory checking of baresip (docs/testing.md, "Hardening"):
# SERREG_ASAN=1 preloads gcc's libasan into baresip (for a serreg.so
# built with ASan+UBSan, SERREG_MODULE=build/asan/serreg.so), reports in
# confdir/asan.<pid>; SERREG_VALGRIND=1 runs baresip under valgrind
# memcheck, log in confdir/valgrind.<pid>.  A report fails the test at
# teardown (Baresip.memcheck_errors).
MEMCHECK = ('valgrind' if os.environ.get('SERREG_VALGRIND') == '1' else
            'asan' if os.environ.get('SERREG_ASAN') == '1' else None)
SANITIZERS = os.path.join(ROOT, 'test', 'sanitizers')
SLOWDOWN = {'valgrind': 4.0, 'asan': 2.0}.get(MEMCHECK, 1.0)

# Bounds of the rig's own waits [s]
KAMAILIO_START_TIMEOUT = 15.0
BARESIP_START_TIMEOUT = 10.0 * SLOWDOWN
KAMCMD_TIMEOUT = 3.0
REAP_TIMEOUT = 5.0


class RigError(RuntimeError):
    """A rig operation failed (process did not start, bad answer...)."""


class RegistrarDown(RigError):
    """The registrar is stopped (or was never started)."""


class RegistrarFrozen(RigError):
    """The registrar is frozen (SIGSTOP): it cannot answer kamcmd."""


# ---------------------------------------------------------------------
# Ports
# ---------------------------------------------------------------------
#
# SIP ports are handed out in aligned blocks of 4: a block starting at P
# (P % 4 == 0) uses P (UDP+TCP) and P+1 (baresip's TLS), and P+2, P+3
# stay unused, so two SIP ports handed out by this rig are always at
# least 4 apart (2 free ports in between).  ctrl_tcp ports come from a
# separate range.  Both ranges avoid the kernel's ephemeral range, so an
# outgoing connection cannot take a port later.  A port is reserved by
# an flock on PORT_LOCK_DIR/<port> held until release_port() or the end
# of this Python process; other rig processes skip locked ports, and a
# bind() test skips ports that anything else (a leftover process) uses.

PORT_LOCK_DIR = os.path.join(tempfile.gettempdir(), 'serreg-rig-ports')
SIP_RANGE = (20000, 60000)
TCP_RANGE = (10000, 20000)
BLOCK = 4
PORT_TRIES = 400

_leases = {}                # port -> fd of its lock file
_port_lock = threading.Lock()


def _ephemeral():
    """The kernel's ephemeral port range (lo, hi)."""
    try:
        with open('/proc/sys/net/ipv4/ip_local_port_range') as f:
            lo, hi = f.read().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return 32768, 60999


def _candidates(lo, hi, step=1):
    """Ports in [lo, hi) aligned to step, outside the ephemeral range
    (all of them if that leaves fewer than 100)."""
    elo, ehi = _ephemeral()
    ports = [p for p in range((lo + step - 1) // step * step, hi, step)
             if not elo <= p <= ehi]
    if len(ports) < 100:
        ports = list(range((lo + step - 1) // step * step, hi, step))
    return ports


def _bindable(port, kinds, hosts=(HOST,), tcp_reuse=False):
    """True if port can be bound now on every address of hosts for
    every socket kind.

    No SO_REUSEADDR: with it a UDP bind could succeed next to a socket
    that also set it, and a port in TIME_WAIT is better skipped.
    tcp_reuse: SO_REUSEADDR on the TCP socket (as kamailio binds):
    connections in TIME_WAIT do not count, a listener still does."""
    for host in hosts:
        for kind in kinds:
            s = socket.socket(socket.AF_INET, kind)
            try:
                if tcp_reuse and kind == socket.SOCK_STREAM:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((host, port))
            except OSError:
                return False
            finally:
                s.close()
    return True


def _lease(port):
    """Take the cross-process lock of port; False if someone holds it."""
    if port in _leases:
        return False
    os.makedirs(PORT_LOCK_DIR, exist_ok=True)
    fd = os.open(os.path.join(PORT_LOCK_DIR, str(port)),
                 os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    _leases[port] = fd
    return True


def release_port(port):
    """Give a port obtained here back (no-op if not held)."""
    with _port_lock:
        fd = _leases.pop(port, None)
    if fd is not None:
        os.close(fd)


def _pick(candidates, span, kinds, hosts=(HOST,)):
    """Lease a random candidate P with P..P+span-1 bindable on every
    address of hosts."""
    with _port_lock:
        for _ in range(PORT_TRIES):
            p = random.choice(candidates)
            if not _lease(p):
                continue
            if all(_bindable(q, kinds, hosts) for q in range(p, p + span)):
                return p
            os.close(_leases.pop(p))
    raise RigError('no free port found in %d tries' % PORT_TRIES)


_BOTH = (socket.SOCK_DGRAM, socket.SOCK_STREAM)


def free_port_block(hosts=(HOST,)):
    """A SIP port P free for UDP and TCP, and P+1 too (TLS), on every
    address of hosts (e.g. (HOST, HOST2): two registrars on the same
    port at two addresses).

    P is a multiple of 4; P+2 and P+3 are never handed out, so any two
    SIP ports from this rig are at least 4 apart.  One lease per port
    number, whatever the addresses."""
    return _pick(_candidates(SIP_RANGE[0], SIP_RANGE[1], BLOCK), 2, _BOTH,
                 tuple(hosts))


def lease_port(port, hosts=(HOST,)):
    """Lease one given port (e.g. 5060, SIP's default: outside the
    rig's ranges) if it is free for UDP and TCP on every address of
    hosts now: True if leased (release_port() gives it back), False if
    taken (by this rig or anything else).  TCP connections of an
    earlier registrar on it left in TIME_WAIT do not count (kamailio
    binds with SO_REUSEADDR)."""
    with _port_lock:
        if not _lease(port):
            return False
        if _bindable(port, _BOTH, tuple(hosts), tcp_reuse=True):
            return True
        os.close(_leases.pop(port))
    return False


def free_tcp_port(udp=False):
    """A port free for TCP (and UDP if udp), e.g. for ctrl_tcp."""
    kinds = _BOTH if udp else (socket.SOCK_STREAM,)
    return _pick(_candidates(TCP_RANGE[0], TCP_RANGE[1]), 1, kinds)


def free_port(span=1):
    """Compatibility: span >= 2 is a SIP block, else a UDP+TCP port."""
    return free_port_block() if span >= 2 else free_tcp_port(udp=True)


# ---------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------

def wait_until(pred, timeout=10.0, interval=0.1):
    """Poll pred() until it is truthy or timeout [s] has passed.

    Returns pred()'s last value (truthy on success).  At most
    timeout / interval + 2 calls."""
    end = time.monotonic() + timeout
    for _ in range(int(timeout / max(interval, 0.001)) + 2):
        val = pred()
        if val or time.monotonic() >= end:
            return val
        time.sleep(min(interval, max(0.0, end - time.monotonic())))
    return pred()


def _port_of(registrar):
    """Port of a Kamailio, an int, or a 'host:port' string."""
    return _addr_of(registrar)[1]


def _addr_of(registrar):
    """(host, port) of a Kamailio (its host), an int (HOST), or a
    'host:port' string."""
    if isinstance(registrar, Kamailio):
        return registrar.host, registrar.port
    if isinstance(registrar, int):
        return HOST, registrar
    host, _, port = str(registrar).rpartition(':')
    return host or HOST, int(port)


def aor(user, registrar):
    """The AoR baresip reports for user at registrar:
    'sip:user@127.0.0.1:PORT' (no URI parameters; the registrar's own
    address if it is a Kamailio on another one, or 'host:port')."""
    return 'sip:%s@%s:%d' % ((user,) + _addr_of(registrar))


def account_line(user, registrar, prio=None, fbregint=None,
                 regint=DEFAULT_REGINT, transport='udp', extra='',
                 password=PASSWORD):
    """An accounts-file (or uanew) line for user at registrar, e.g.
    <sip:alice@127.0.0.1:20004;transport=tcp>;auth_pass=testpass;
    regint=10;prio=1;fbregint=5  (one line).

    registrar: a Kamailio, a port, or 'host:port'.  transport 'udp'
    adds no URI parameter.  prio/fbregint are written as given (any
    value, also invalid ones, for negative tests).  extra is appended
    as is, with a leading ';' added if missing."""
    uri = aor(user, registrar)
    if transport and transport != 'udp':
        uri += ';transport=' + transport
    line = '<%s>' % uri
    if password is not None:
        line += ';auth_pass=%s' % password
    if regint is not None:
        line += ';regint=%s' % regint
    if prio is not None:
        line += ';prio=%s' % prio
    if fbregint is not None:
        line += ';fbregint=%s' % fbregint
    if extra:
        line += extra if extra.startswith(';') else ';' + extra
    return line


def _user_of(aor_or_user):
    """'sip:alice@host:port;x' or 'alice' -> 'alice'."""
    s = str(aor_or_user)
    s = s.split(':', 1)[1] if s.startswith(('sip:', 'sips:')) else s
    return s.split('@', 1)[0]


SipReply = collections.namedtuple('SipReply', 'code reason headers')


def sip_request(registrar, method='OPTIONS', user='rig', expires=None,
                transport='udp', timeout=2.0):
    """Send one request to the registrar from a throwaway socket and
    return the first answer as SipReply(code, reason, headers) (header
    names in lower case, first value of each), or None if nothing came
    within timeout.

    For checking a registrar without baresip (sent from HOST to the
    registrar's address).  No digest auth: a REGISTER is answered 401
    unless a fault is injected."""
    rhost, port = _addr_of(registrar)
    kind = socket.SOCK_DGRAM if transport == 'udp' else socket.SOCK_STREAM
    s = socket.socket(socket.AF_INET, kind)
    s.settimeout(timeout)
    try:
        if kind == socket.SOCK_STREAM:
            s.connect((rhost, port))
        else:
            s.bind((HOST, 0))
        lport = s.getsockname()[1]
        tag = uuidlib.uuid4().hex[:12]
        uri = 'sip:%s:%d' % (rhost, port)
        hdrs = [
            '%s %s SIP/2.0' % (method, uri),
            'Via: SIP/2.0/%s %s:%d;branch=z9hG4bK%s;rport'
            % (transport.upper(), HOST, lport, tag),
            'Max-Forwards: 70',
            'From: <sip:%s@%s:%d>;tag=%s' % (user, rhost, port, tag),
            'To: <sip:%s@%s:%d>' % (user, rhost, port),
            'Call-ID: %s@rig' % tag,
            'CSeq: 1 %s' % method,
        ]
        if method == 'REGISTER':
            c = '<sip:%s@%s:%d;transport=%s>' % (user, HOST, lport,
                                                  transport)
            if expires is not None:
                c += ';expires=%d' % expires
            hdrs.append('Contact: ' + c)
        hdrs.append('Content-Length: 0')
        msg = ('\r\n'.join(hdrs) + '\r\n\r\n').encode()
        if kind == socket.SOCK_STREAM:
            s.sendall(msg)
            data = s.recv(65536)
        else:
            s.sendto(msg, (rhost, port))
            data, _ = s.recvfrom(65536)
    except (socket.timeout, ConnectionError):
        return None
    finally:
        s.close()
    head = data.decode('utf-8', 'replace').split('\r\n\r\n', 1)[0]
    lines = head.split('\r\n')
    m = re.match(r'SIP/2\.0 (\d{3}) ?(.*)', lines[0])
    if not m:
        return None
    hdrs = {}
    for line in lines[1:]:
        name, _, value = line.partition(':')
        hdrs.setdefault(name.strip().lower(), value.strip())
    return SipReply(int(m.group(1)), m.group(2), hdrs)


def _drain_pids(pids, sig):
    """Send sig to each pid; ignore those already gone."""
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _session_members(sid):
    """Live (non-zombie) PIDs whose session and group are sid."""
    pids = []
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % name) as f:
                stat = f.read()
        except OSError:
            continue
        # fields after "(comm)": state ppid pgrp session ...
        fields = stat[stat.rfind(')') + 2:].split()
        if len(fields) < 4 or fields[0] in ('Z', 'X'):
            continue
        if int(fields[2]) == sid and int(fields[3]) == sid:
            pids.append(int(name))
    return pids


# Everything started and not yet cleaned up, for the exit handler
_live = []


@atexit.register
def _cleanup_at_exit():
    """Kill what the rig started if the tests did not (by PID)."""
    for obj in list(_live):
        try:
            obj.close()
        except Exception:
            pass


# ---------------------------------------------------------------------
# Kamailio
# ---------------------------------------------------------------------

# Reason phrases of the codes tests inject most
REASONS = {
    400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden',
    404: 'Not Found', 405: 'Method Not Allowed', 407:
    'Proxy Authentication Required', 408: 'Request Timeout',
    423: 'Interval Too Brief', 480: 'Temporarily Unavailable',
    486: 'Busy Here', 500: 'Server Internal Error',
    502: 'Bad Gateway', 503: 'Service Unavailable',
    504: 'Server Time-out', 600: 'Busy Everywhere', 603: 'Decline',
}


Binding = collections.namedtuple('Binding', 'uri expires')
Binding.__doc__ = """A contact bound at the registrar: uri, and expires
(seconds left, or None if permanent)."""


class Request:
    """One request as logged by a registrar (an SRREQ line).

    time: arrival [s since the epoch, time.time() clock]; method;
    user: From user; aor: From URI without parameters; to: To URI;
    contact: raw Contact header ('' if none); expires: Contact
    'expires' parameter, else Expires header, else None; callid;
    cseq (int); authorized: carried an Authorization header; proto
    ('udp'/'tcp'); source ('ip:port'); answer/reason/answer_time: the
    reply kamailio sent (None while none was sent: the reply line is
    logged just AFTER the reply is sent, so poll for it); retry: a
    resend with credentials after a 401/407 to the same Call-ID;
    resent: that resend (on the challenged request); final: see
    below; retrans: a retransmission (same Call-ID, CSeq and method
    as an earlier one).
    """

    FIELDS = 13

    def __init__(self, fields):
        (t, self.method, self.user, fu, self.to, cexp, hexp, self.callid,
         cseq, alen, self.proto, self.source, contact) = fields
        self.time = float(t)
        self.aor = _strip_params(fu)
        self.contact = '' if contact == '<null>' else contact
        self.expires = _int(cexp)
        if self.expires is None:
            self.expires = _int(hexp)
        self.cseq = _int(cseq)
        self.authorized = bool(_int(alen))
        self.answer = self.reason = self.answer_time = None
        self.retry = self.retrans = False
        self.resent = None

    @property
    def final(self):
        """The answer at the end of the digest exchange this request
        started: the answer of its resend with credentials if it was
        challenged (and resent), else its own answer."""
        r = self
        for _ in range(10):
            if r.resent is None:
                break
            r = r.resent
        return r.answer

    @property
    def is_probe(self):
        """A REGISTER with expires=0 (a probe or an un-REGISTER)."""
        return self.method == 'REGISTER' and self.expires == 0

    @property
    def is_registration(self):
        """A REGISTER that asks for a binding (a Contact, expires>0 or
        the registrar's default)."""
        return (self.method == 'REGISTER' and bool(self.contact)
                and self.contact != '*' and self.expires != 0)

    def __repr__(self):
        return '<%s %s exp=%s cseq=%s auth=%d ans=%s t=%.3f>' % (
            self.method, self.user, self.expires, self.cseq,
            self.authorized, self.answer, self.time)


def _int(s):
    """int(s) or None for '', '<null>' and other non-numbers."""
    try:
        return int(s)
    except (TypeError, ValueError):
        return None


def _strip_params(uri):
    """'sip:a@h:p;transport=tcp' -> 'sip:a@h:p'."""
    return uri.split(';', 1)[0]


def read_log(path):
    """A log file's text so far, '' if it does not exist yet."""
    try:
        with open(path, errors='replace') as f:
            return f.read()
    except FileNotFoundError:
        return ''


class _Child:
    """A process this rig started (self.proc, a Popen, or None)."""

    proc = None

    @property
    def pid(self):
        """PID of the process, None if not started."""
        return self.proc.pid if self.proc else None

    @property
    def running(self):
        """True while the process this object started is alive."""
        return self.proc is not None and self.proc.poll() is None


class Kamailio(_Child):
    """One registrar: /usr/sbin/kamailio on host:port, UDP+TCP.

    rundir: a directory for this registrar's files (created; the
    run directory is rundir/<name>-<port>): kamailio.cfg, kamailio.log
    (stderr, with the request log), kamailio.pid, ctl.sock.
    host: the address it listens on (and its digest realm), HOST by
    default; another loopback address such as HOST2 works the same
    (baresip and the rig's clients on HOST reach it over lo).
    port: None = a port of its own (free_port_block((host,)), released
    at close()); given = that port, leased by the caller, e.g. one
    port for registrars on HOST and HOST2: free_port_block((HOST,
    HOST2)) (the fixture: registrars(2, hosts=(HOST, HOST2))).
    tls: (certificate file, key file), e.g. from TestCA: also TLS on
    tls_port = port+1 with that certificate (tls.cfg in the run
    directory; kamailio's tls module, Debian's kamailio-tls-modules).
    auth: True = REGISTER is challenged (digest, password); False = a
    registrar that trusts every REGISTER, as IP-trusted trunks, SBCs
    and private networks do; None = AUTH (the mode of the test).
    """

    def __init__(self, rundir, name='reg', port=None,
                 template=TEMPLATE, password=PASSWORD, shm_mb=32,
                 pkg_mb=8, tls=None, host=HOST, auth=None):
        self.name = name
        self.host = host
        self.password = password
        self.auth = AUTH if auth is None else auth
        self._own_port = port is None
        self.port = free_port_block((host,)) if port is None else port
        self.rundir = os.path.join(os.path.abspath(rundir),
                                   '%s-%d' % (name, self.port))
        os.makedirs(self.rundir, exist_ok=True)
        self.cfg = os.path.join(self.rundir, 'kamailio.cfg')
        self.logfile = os.path.join(self.rundir, 'kamailio.log')
        self.pidfile = os.path.join(self.rundir, 'kamailio.pid')
        # a unix socket path has at most 107 bytes
        self._sockdir = None
        self.sock = os.path.join(self.rundir, 'ctl.sock')
        if len(self.sock) > 100:
            self._sockdir = tempfile.mkdtemp(prefix='srk')
            self.sock = os.path.join(self._sockdir, 'ctl.sock')
        self.memory = (shm_mb, pkg_mb)
        # tls: (certificate file, key file): a TLS listener on port+1
        # (the block's second port, leased with it)
        self.tls = tls
        self.tls_port = self.port + 1 if tls else None
        if tls:
            with open(os.path.join(self.rundir, 'tls.cfg'), 'w') as f:
                f.write('[server:default]\nmethod = TLSv1.2+\n'
                        'verify_certificate = no\n'
                        'require_certificate = no\n'
                        'certificate = %s\nprivate_key = %s\n\n'
                        '[client:default]\nverify_certificate = no\n'
                        'require_certificate = no\n' % tls)
        with open(template) as f:
            text = f.read()
        for key, val in (('TLS_DEFINE', '#!define WITH_TLS' if tls
                          else '# no TLS'),
                         ('AUTH_DEFINE', '#!define WITH_AUTH'
                          if self.auth else '# no digest auth'),
                         ('TLSPORT', str(self.tls_port or '')),
                         ('HOST', self.host), ('PORT', str(self.port)),
                         ('RUNDIR', self.rundir), ('CTLSOCK', self.sock),
                         ('PASSWORD', password), ('NAME', name),
                         ('MPATH', KAMAILIO_MODULES + '/')):
            text = text.replace('@%s@' % key, val)
        with open(self.cfg, 'w') as f:
            f.write(text)
        self.proc = None
        self.frozen = False
        self.started_at = None      # time.time() of the last start
        self.start_seconds = None   # how long the last start took
        self._records = []          # parsed Request objects
        self._pending = {}          # (callid, cseq, method) -> [Request]
        self._last = {}             # callid -> its latest Request
        self._log_pos = 0
        self._log_rest = b''
        self._log_lock = threading.Lock()
        _live.append(self)

    def __repr__(self):
        return '<Kamailio %s %s:%d pid=%s>' % (self.name, self.host,
                                               self.port, self.pid)

    # -- process control ----------------------------------------------

    def check(self):
        """kamailio -c on the generated config; returns its output,
        raises RigError if it fails.  (It checks syntax only: fixup
        errors show at start.)"""
        out = subprocess.run([KAMAILIO, '-c', '-f', self.cfg],
                             capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            raise RigError('kamailio -c failed:\n' + out.stderr)
        return out.stdout + out.stderr

    def start(self, timeout=KAMAILIO_START_TIMEOUT):
        """Start kamailio; wait (bounded) until kamcmd answers."""
        if self.running:
            raise RigError('%r already running' % self)
        t0 = time.monotonic()
        self.started_at = time.time()
        with open(self.logfile, 'ab') as log:
            log.write(b'=== rig: start %.6f ===\n' % self.started_at)
            log.flush()
            shm, pkg = self.memory
            # -DD: foreground, -E: log to stderr; no -u/-g: no privilege
            # drop; -Y/-P/-w: only this run directory is written
            self.proc = subprocess.Popen(
                [KAMAILIO, '-f', self.cfg, '-DD', '-E',
                 '-m', str(shm), '-M', str(pkg), '-P', self.pidfile,
                 '-Y', self.rundir, '-w', self.rundir],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                cwd=self.rundir, start_new_session=True)
        self.frozen = False
        ok = wait_until(self._answers, timeout=timeout, interval=0.05)
        if not ok:
            self.stop()
            raise RigError('kamailio %s did not answer kamcmd in %.0f s:'
                           '\n%s' % (self.name, timeout,
                                     self.log()[-3000:]))
        self.start_seconds = time.monotonic() - t0
        return self

    def _answers(self):
        """True once kamcmd gets an answer; raise if kamailio died."""
        if self.proc.poll() is not None:
            raise RigError('kamailio %s exited with %s:\n%s'
                           % (self.name, self.proc.returncode,
                              self.log()[-3000:]))
        try:
            self._kamcmd(['core.version'], timeout=1.0)
            return True
        except RigError:
            return False

    def _members(self):
        """Live PIDs of this kamailio (its session), [] if none."""
        if self.proc is None:
            return []
        return _session_members(self.proc.pid)

    def _signal(self, sig):
        """Send sig to every live process of this kamailio."""
        _drain_pids(self._members(), sig)

    def stop(self):
        """SIGKILL this kamailio (main process and its children) and
        reap it.  Bindings and injected faults are lost."""
        if self.proc is None:
            return
        self._signal(signal.SIGKILL)
        try:
            self.proc.wait(timeout=REAP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        wait_until(lambda: not self._members(), REAP_TIMEOUT, 0.02)
        self.frozen = False

    def freeze(self):
        """SIGSTOP all its processes: requests are queued by the kernel
        (TCP connects still succeed) and answered only after thaw()."""
        if not self.running:
            raise RegistrarDown('%r is not running' % self)
        self._signal(signal.SIGSTOP)
        self.frozen = True

    def thaw(self):
        """SIGCONT after freeze()."""
        if self.running:
            self._signal(signal.SIGCONT)
        self.frozen = False

    def heal(self):
        """Healthy again whatever was done to it: thawed, faults
        cleared, started again on its port if it was stopped (a
        registrar never started is left alone)."""
        self.thaw()
        if self.running:
            self.set_reply(None)
        elif self.proc is not None:
            self.start()

    def restart(self, timeout=KAMAILIO_START_TIMEOUT):
        """stop() then start() on the same port: a fresh registrar
        (no bindings, normal answers)."""
        self.stop()
        return self.start(timeout)

    def close(self):
        """stop() and release the port and files the rig holds."""
        self.stop()
        if self in _live:
            _live.remove(self)
        if self._own_port:
            release_port(self.port)
        if self._sockdir:
            shutil.rmtree(self._sockdir, ignore_errors=True)

    # -- kamcmd -------------------------------------------------------

    def _kamcmd(self, args, timeout=KAMCMD_TIMEOUT):
        """Run kamcmd; return stdout; RigError on any failure."""
        try:
            out = subprocess.run([KAMCMD, '-s', 'unix:' + self.sock]
                                 + [str(a) for a in args],
                                 capture_output=True, text=True,
                                 timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RigError('kamcmd %s: no answer in %.1f s'
                           % (' '.join(map(str, args)), timeout))
        # kamcmd exits 0 on RPC errors and prints "error: <code> - ..."
        if out.returncode != 0 or out.stdout.startswith('error:'):
            raise RigError('kamcmd %s: %s' % (' '.join(map(str, args)),
                                              (out.stdout + out.stderr)
                                              .strip()))
        return out.stdout

    def rpc(self, *args, timeout=KAMCMD_TIMEOUT):
        """One RPC over the ctl socket, e.g. rpc('ul.dump'); returns
        kamcmd's text output.  Raises RegistrarDown if stopped,
        RegistrarFrozen if frozen, RigError if the RPC fails."""
        if not self.running:
            raise RegistrarDown('registrar %s (%s:%d) is not running'
                                % (self.name, self.host, self.port))
        if self.frozen:
            raise RegistrarFrozen('registrar %s (%s:%d) is frozen'
                                  % (self.name, self.host, self.port))
        return self._kamcmd(args, timeout)

    def _shv(self, name, value):
        """Set a shared variable ($shv(name)) at run time."""
        if isinstance(value, int):
            self.rpc('pv.shvSet', name, 'int', value)
        else:
            # "s:" keeps kamcmd from turning a numeric string into int
            self.rpc('pv.shvSet', name, 'str', 's:' + value)

    def shv(self, name):
        """Current value of $shv(name) (int or str)."""
        out = self.rpc('pv.shvGet', name)
        m = re.search(r'type:\s*(\w+)\s*\n\s*value:\s*(.*)', out)
        if not m:
            raise RigError('pv.shvGet %s: %r' % (name, out))
        return int(m.group(2)) if m.group(1) == 'int' else m.group(2)

    # -- fault injection ------------------------------------------------

    def set_reply(self, code, reason=None, retry_after=None,
                  options=True, register=True):
        """Answer every REGISTER (if register) and OPTIONS (if options)
        with code from now on, e.g. set_reply(503, retry_after=5) or
        set_reply(403); set_reply(None) (or 0) goes back to normal.

        No digest challenge comes first: the injected answer is the
        only one.  reason defaults to the standard phrase."""
        if code:
            code = int(code)
            if not 300 <= code <= 699:
                raise ValueError('set_reply: code %d not in 300..699'
                                 % code)
            mask = (1 if register else 0) | (2 if options else 0)
            self._shv('drop', 0)
            self._shv('reason', reason or REASONS.get(code,
                                                      'Injected Fault'))
            self._shv('ra', int(retry_after or 0))
            self._shv('fmask', mask)
            self._shv('code', code)
        else:
            self._shv('code', 0)
            self._shv('drop', 0)
            self._shv('ra', 0)
            self._shv('fmask', 3)

    def set_silent(self, on=True, options=True, register=True):
        """Receive and log, but never answer REGISTER (if register)
        and OPTIONS (if options); kamcmd keeps working (unlike
        freeze()).  set_silent(False) goes back to normal."""
        if on:
            self._shv('code', 0)
            self._shv('fmask', (1 if register else 0)
                      | (2 if options else 0))
            self._shv('drop', 1)
        else:
            self.set_reply(None)

    # -- registrar-side truth -------------------------------------------

    def bindings(self, aor):
        """Contacts bound now for aor ('sip:user@...' or 'user'), as a
        list of Binding(uri, expires): [] if the AoR is not found.
        Raises RegistrarDown / RegistrarFrozen if it cannot be asked."""
        res = []
        for block in ul_lookup(self, aor):
            m = re.search(r'Address:\s*(\S+)', block)
            e = re.search(r'Expires:\s*(\S+)', block)
            if not m or not e:
                continue
            if e.group(1) == 'permanent':
                res.append(Binding(m.group(1), None))
            elif e.group(1).lstrip('-').isdigit() and int(e.group(1)) > 0:
                res.append(Binding(m.group(1), int(e.group(1))))
        return res

    def drop_bindings(self, aor):
        """Remove every binding of aor, as a registrar that restarted
        with an empty location table would have (ul.rm)."""
        self.rpc('ul.rm', 'location', _user_of(aor))

    def has_binding(self, aor):
        """True if aor ('sip:user@...' or 'user') has a binding now."""
        return bool(self.bindings(aor))

    # -- request log ----------------------------------------------------

    def _parse_log(self):
        """Read new SRREQ/SRRES lines of the log into self._records."""
        with self._log_lock:
            try:
                with open(self.logfile, 'rb') as f:
                    f.seek(self._log_pos)
                    data = f.read()
            except FileNotFoundError:
                return
            self._log_pos += len(data)
            data = self._log_rest + data
            lines = data.split(b'\n')
            self._log_rest = lines.pop()
            for raw in lines:
                line = raw.decode('utf-8', 'replace')
                i = line.find('SRREQ|')
                if i >= 0:
                    self._add_request(line[i + 6:])
                    continue
                i = line.find('SRRES|')
                if i >= 0:
                    self._add_reply(line[i + 6:])

    def _add_request(self, text):
        fields = text.split('|', Request.FIELDS - 1)
        if len(fields) != Request.FIELDS:
            return
        r = Request(fields)
        key = (r.callid, r.cseq, r.method)
        seen = self._pending.setdefault(key, [])
        r.retrans = bool(seen)
        seen.append(r)
        # a credentialed resend after a challenge to the same Call-ID
        prev = self._last.get(r.callid)
        if r.authorized and prev is not None and prev.answer in (401, 407):
            r.retry = True
            prev.resent = r
        self._last[r.callid] = r
        self._records.append(r)

    def _add_reply(self, text):
        fields = text.split('|', 5)
        if len(fields) != 6:
            return
        t, method, callid, cseq, code, reason = fields
        for r in self._pending.get((callid, _int(cseq), method), []):
            if r.answer is None:
                r.answer, r.reason = _int(code), reason
                r.answer_time = float(t)
                break

    def requests(self, aor=None, method=None, since=0.0):
        """Requests received so far (oldest first), as Request objects,
        optionally only those From aor ('sip:user@...' or 'user'), of
        method ('REGISTER', 'OPTIONS', ...), arrived at or after since
        (a time.time() value).  Kept across restart()."""
        if aor in ('REGISTER', 'OPTIONS') and method is None:
            raise ValueError('requests(aor, method): use method=%r' % aor)
        self._parse_log()
        user = _user_of(aor) if aor is not None else None
        with self._log_lock:
            return [r for r in self._records
                    if (user is None or r.user == user)
                    and (method is None or r.method == method)
                    and r.time >= since]

    def registers(self, aor=None, since=0.0):
        """REGISTERs asking for a binding (expires>0 or default), each
        one counted, also the resend with credentials after a 401
        (r.retry); retransmissions are left out."""
        return [r for r in self.requests(aor, 'REGISTER', since)
                if r.is_registration and not r.retrans]

    def probes(self, aor=None, since=0.0):
        """REGISTERs with expires=0, one per probe: the resend with
        credentials after a 401 and retransmissions are left out.
        (An un-REGISTER looks the same on the wire and counts too.)"""
        return [r for r in self.requests(aor, 'REGISTER', since)
                if r.is_probe and not r.retry and not r.retrans]

    def log(self):
        """The whole log file (all runs of this registrar)."""
        return read_log(self.logfile)


# ---------------------------------------------------------------------
# Baresip
# ---------------------------------------------------------------------

def memcheck_command(confdir):
    """(argv prefix, environment) that run baresip under MEMCHECK."""
    if MEMCHECK == 'valgrind':
        # --keep-debuginfo: serreg.so is dlclose()d before the leak
        # check; its frames keep their names
        return (['valgrind', '--leak-check=full',
                 '--errors-for-leak-kinds=definite', '--error-exitcode=99',
                 '--keep-debuginfo=yes', '--num-callers=30',
                 '--suppressions=' + os.path.join(SANITIZERS,
                                                  'valgrind.supp'),
                 '--log-file=' + os.path.join(confdir, 'valgrind.%p')],
                None)
    if MEMCHECK != 'asan':
        return [], None
    lib = os.environ.get('SERREG_ASAN_LIB') or subprocess.run(
        ['gcc', '-print-file-name=libasan.so'], capture_output=True,
        text=True, timeout=30).stdout.strip()
    # modules stay mapped, so that the leak report names serreg's frames
    keep = os.path.join(ROOT, 'build', 'asan', 'nodlclose.so')
    if not os.path.exists(keep):
        raise RigError('%s missing: make asan-module' % keep)
    log = os.path.join(confdir, 'asan')
    env = dict(os.environ)
    env['LD_PRELOAD'] = os.path.realpath(lib) + ':' + keep
    # SERREG_ASAN_OPTIONS is appended: libre has no frame pointers, so
    # an allocation's stack is cut at libre's frames unless
    # ':fast_unwind_on_malloc=0' (too slow to be the default: TLS
    # probes that load the system trust store miss their deadline)
    env['ASAN_OPTIONS'] = ('log_path=%s:detect_leaks=1:halt_on_error=1'
                           % log + os.environ.get('SERREG_ASAN_OPTIONS',
                                                  ''))
    env['UBSAN_OPTIONS'] = ('log_path=%s:print_stacktrace=1:'
                            'halt_on_error=1' % log)
    env['LSAN_OPTIONS'] = 'suppressions=' + os.path.join(SANITIZERS,
                                                         'lsan.supp')
    return [], env


class Baresip(_Child):
    """/usr/bin/baresip -f confdir, driven over ctrl_tcp.

    confdir gets: config, accounts, uuid, baresip.log (stdout and
    stderr) and modules/ (symlinks to Debian's baresip modules, plus
    serreg.so -> module if serreg).

    accounts: lines for the accounts file.  config: extra config lines
    appended to the generated ones; a line whose key is one the rig
    writes (poll_method, sip_listen, module_path, ctrl_tcp_listen)
    replaces the rig's line.  serreg_line: how serreg is loaded
    ('module serreg.so' before the accounts; 'module_app serreg.so'
    after them).  uuid: also load module_tmp uuid.so.  args: extra
    command-line arguments (['-v'] for debug output).  env: extra
    environment variables (an LD_PRELOAD shim, for fault injection).
    """

    RIG_KEYS = ('poll_method', 'sip_listen', 'module_path',
                'ctrl_tcp_listen')

    # serreg settings whose shipped default would change the timing the
    # tests were written for: off unless a test sets them (issue 11:
    # serreg_check_interval defaults to 30 s, an OPTIONS to the
    # registrar in use; serreg_failback_spread to 60 s, a random wait
    # before each failback)
    TEST_DEFAULTS = ('serreg_check_interval 0', 'serreg_failback_spread 0')

    def __init__(self, confdir, accounts=(), config=(), serreg=True,
                 module=MODULE, serreg_line='module serreg.so',
                 uuid=False, args=(), env=None):
        self.confdir = os.path.abspath(confdir)
        self.args = list(args)      # extra command-line args, e.g. -v
        self.env = dict(env or {})  # extra environment
        os.makedirs(self.confdir, exist_ok=True)
        self.serreg = serreg
        self.module = module
        self.moddir = os.path.join(self.confdir, 'modules')
        self.logfile = os.path.join(self.confdir, 'baresip.log')
        self._link_modules()
        self.sip_port = free_port_block()
        self.ctrl_port = free_tcp_port()

        lines = ['# generated by test/integration/rig.py',
                 'poll_method epoll',
                 'sip_listen %s:%d' % (HOST, self.sip_port),
                 'module_path ' + self.moddir,
                 'ctrl_tcp_listen %s:%d' % (HOST, self.ctrl_port)]
        if serreg and serreg_line.split()[0] == 'module':
            lines.append(serreg_line)
        if uuid:
            lines.append('module_tmp uuid.so')
        # ctrl_tcp first among the applications: it listens before the
        # accounts send their first REGISTER (see Baresip.start)
        lines += ['module_app ctrl_tcp.so', 'module_app account.so',
                  'module_app menu.so']
        if serreg and serreg_line.split()[0] != 'module':
            lines.append(serreg_line)
        for extra in config:
            key = extra.split()[0] if extra.split() else ''
            if key in self.RIG_KEYS:
                lines = [x for x in lines if not x.startswith(key + ' ')]
            lines.append(extra)
        given = {x.split()[0] for x in config if x.split()}
        if serreg:
            lines += [d for d in self.TEST_DEFAULTS
                      if d.split()[0] not in given]
        self.config = lines
        with open(os.path.join(self.confdir, 'config'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
        self.accounts = list(accounts)
        with open(os.path.join(self.confdir, 'accounts'), 'w') as f:
            f.write(''.join(a + '\n' for a in self.accounts))
        uuid_file = os.path.join(self.confdir, 'uuid')
        if not os.path.exists(uuid_file):
            with open(uuid_file, 'w') as f:
                f.write(str(uuidlib.uuid4()))

        self.proc = None
        self.sock = None
        self.started_at = None      # time.time() of start()
        self.start_seconds = None   # spawn -> ctrl_tcp connected
        self._killed = False
        self._events = []
        self._responses = {}
        self._cond = threading.Condition()
        self._send_lock = threading.Lock()
        self._token = 0
        self._reader_thread = None
        self._eof = False
        _live.append(self)

    def __repr__(self):
        return '<Baresip %s sip=%d ctrl=%d pid=%s>' % (
            os.path.basename(self.confdir), self.sip_port, self.ctrl_port,
            self.pid)

    def _link_modules(self):
        """modules/: a symlink per Debian module, plus serreg.so."""
        os.makedirs(self.moddir, exist_ok=True)
        for name in os.listdir(BARESIP_MODULES):
            dst = os.path.join(self.moddir, name)
            if not os.path.lexists(dst):
                os.symlink(os.path.join(BARESIP_MODULES, name), dst)
        if self.serreg:
            if not os.path.exists(self.module):
                raise RigError('%s not found (run make)' % self.module)
            dst = os.path.join(self.moddir, 'serreg.so')
            if os.path.lexists(dst):
                os.unlink(dst)
            os.symlink(os.path.abspath(self.module), dst)

    # -- process control ----------------------------------------------

    @property
    def returncode(self):
        """Exit status (negative: killed by that signal), None if
        running or not started."""
        return self.proc.poll() if self.proc else None

    def start(self, timeout=BARESIP_START_TIMEOUT, hold=()):
        """Start baresip and connect to ctrl_tcp (bounded).

        ctrl_tcp keeps no backlog: events raised before the rig is
        connected are lost.  The REGISTERING events of the accounts
        file always are (they are raised before baresip's main loop);
        the first REGISTER_OK/REGISTER_FAIL are too unless the
        registrars are slower than the connection.  hold: registrars
        (Kamailio) to freeze until ctrl_tcp is connected, so that every
        answer to the first REGISTERs (and its event) comes after it.
        """
        if self.proc is not None:
            raise RigError('%r: start() twice' % self)
        held = [k for k in hold if k.running and not k.frozen]
        for k in held:
            k.freeze()
        try:
            self._spawn_and_connect(timeout)
        finally:
            for k in held:
                k.thaw()
        return self

    def _spawn_and_connect(self, timeout):
        t0 = time.monotonic()
        self.started_at = time.time()
        wrap, env = memcheck_command(self.confdir)
        if self.env:
            env = dict(env or os.environ)
            if 'LD_PRELOAD' in env and 'LD_PRELOAD' in self.env:
                self.env['LD_PRELOAD'] = (env['LD_PRELOAD'] + ':' +
                                          self.env['LD_PRELOAD'])
            env.update(self.env)
        with open(self.logfile, 'ab') as log:
            self.proc = subprocess.Popen(
                wrap + [BARESIP, '-f', self.confdir] + self.args,
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                cwd=self.confdir, env=env)
        end = t0 + timeout
        # a refused connect costs microseconds: try every ms at first,
        # to be connected as soon as ctrl_tcp listens
        for i in range(int(timeout / 0.01) + 1000):
            if self.proc.poll() is not None:
                raise RigError('baresip exited with %s:\n%s'
                               % (self.proc.returncode,
                                  self.log()[-3000:]))
            try:
                self.sock = socket.create_connection(
                    (HOST, self.ctrl_port), timeout=1.0)
                break
            except OSError:
                if time.monotonic() >= end:
                    break
                time.sleep(0.001 if i < 1000 else 0.01)
        if self.sock is None:
            self.kill()
            raise RigError('ctrl_tcp %s:%d not reachable in %.0f s:\n%s'
                           % (HOST, self.ctrl_port, timeout,
                              self.log()[-3000:]))
        self.sock.settimeout(None)
        self._reader_thread = threading.Thread(
            target=self._reader, name='ctrl_tcp-%d' % self.ctrl_port,
            daemon=True)
        self._reader_thread.start()
        self.start_seconds = time.monotonic() - t0

    def kill(self):
        """SIGKILL the baresip this object started, and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self._killed = True
            self.proc.kill()
            try:
                self.proc.wait(timeout=REAP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        self._close_sock()

    def quit(self, timeout=40.0):
        """Send 'quit' over ctrl_tcp and wait for the exit; returns the
        seconds it took.  If it does not exit within timeout: SIGKILL
        and raise TimeoutError."""
        if self.proc is None or self.proc.poll() is not None:
            return 0.0
        t0 = time.monotonic()
        try:
            self._send({'command': 'quit', 'token': self._next_token()})
        except OSError:
            pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise TimeoutError('baresip did not exit %.0f s after quit'
                               % timeout)
        finally:
            self._close_sock()
        return time.monotonic() - t0

    def memcheck_errors(self):
        """Reports of ASan/UBSan/LSan or valgrind (MEMCHECK) for this
        baresip, once it has exited; [] if none."""
        errors = []
        for path in sorted(glob.glob(os.path.join(self.confdir,
                                                  'asan.*'))):
            with open(path, errors='replace') as f:
                text = f.read()
            if text.strip():
                errors.append('%s:\n%s' % (path, text[-6000:]))
        for path in sorted(glob.glob(os.path.join(self.confdir,
                                                  'valgrind.*'))):
            with open(path, errors='replace') as f:
                text = f.read()
            m = re.search(r'ERROR SUMMARY: (\d+) errors', text)
            if m is None and not self._killed:
                errors.append('%s: no valgrind summary:\n%s'
                              % (path, text[-3000:]))
            elif m is not None and int(m.group(1)):
                errors.append('%s:\n%s' % (path, text[-8000:]))
        return errors

    @property
    def crashed(self):
        """True if it died from a signal the rig did not send."""
        rc = self.returncode
        return rc is not None and rc < 0 and not self._killed

    def close(self):
        """kill() if still running; release the ports."""
        self.kill()
        if self in _live:
            _live.remove(self)
        release_port(self.sip_port)
        release_port(self.ctrl_port)

    def _close_sock(self):
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()

    # -- ctrl_tcp -----------------------------------------------------

    def _reader(self):
        """Background thread: netstrings -> events / responses."""
        buf = b''
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b''
            if not data:
                with self._cond:
                    self._eof = True
                    self._cond.notify_all()
                return
            buf += data
            while True:
                i = buf.find(b':')
                if i < 0 or not buf[:i].strip().isdigit():
                    if i >= 0 or len(buf) > 20:
                        buf = b''       # out of sync: drop
                    break
                n = int(buf[:i])
                if len(buf) < i + 1 + n + 1:
                    break
                body, buf = buf[i + 1:i + 1 + n], buf[i + 2 + n:]
                try:
                    msg = json.loads(body.decode('utf-8', 'replace'))
                except ValueError:
                    continue
                msg['_time'] = time.time()
                with self._cond:
                    if msg.get('event'):
                        self._events.append(msg)
                    elif 'token' in msg:
                        self._responses[msg['token']] = msg
                    self._cond.notify_all()

    def _next_token(self):
        with self._cond:
            self._token += 1
            return 'rig%d' % self._token

    def _send(self, obj):
        body = json.dumps(obj).encode()
        with self._send_lock:
            self.sock.sendall(b'%d:%s,' % (len(body), body))

    def command(self, name, params='', timeout=5.0):
        """Run a (long) command over ctrl_tcp, e.g. command('uanew',
        line); returns the response dict: ok (bool), data (text),
        token, _time.  Raises TimeoutError / ConnectionError."""
        if self.sock is None or self._eof:
            raise ConnectionError('%r: ctrl_tcp not connected' % self)
        token = self._next_token()
        self._send({'command': name, 'params': params, 'token': token})
        end = time.monotonic() + timeout
        with self._cond:
            while token not in self._responses:
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError('no response to %r in %.1f s'
                                       % (name, timeout))
                if self._eof:
                    raise ConnectionError('ctrl_tcp closed during %r'
                                          % name)
                self._cond.wait(left)
            return self._responses.pop(token)

    def events(self, type=None, aor=None, since=0.0):
        """Events received so far (dicts as sent by baresip plus
        '_time', the arrival time.time()), oldest first; optionally of
        one type ('REGISTER_OK'...), of one AoR (accountaor), arrived at
        or after since."""
        with self._cond:
            return [e for e in self._events
                    if (type is None or e.get('type') == type)
                    and (aor is None or e.get('accountaor') == aor)
                    and e['_time'] >= since]

    def wait_event(self, predicate, timeout=10.0, since=0.0):
        """The first event (since) for which predicate(event) is true,
        waiting up to timeout; None if none came.  predicate may also
        be an event type string, e.g. 'REGISTER_OK'."""
        if isinstance(predicate, str):
            etype = predicate
            predicate = lambda e: e.get('type') == etype  # noqa: E731
        end = time.monotonic() + timeout
        done = 0
        with self._cond:
            while True:
                for e in self._events[done:]:
                    if e['_time'] >= since and predicate(e):
                        return e
                done = len(self._events)
                left = end - time.monotonic()
                if left <= 0 or self._eof:
                    return None
                self._cond.wait(left)

    def log(self):
        """baresip's stdout+stderr so far, ANSI colours removed."""
        return ANSI.sub('', read_log(self.logfile))

    # -- baresip / serreg views -----------------------------------------

    def current_aor(self):
        """The AoR a 'dial' without a UA goes through.  baresip 1.0.0:
        the one reginfo marks as current ('>').  1.1.0 has no current
        UA in the core: the menu dials through the first registered UA
        (uag_find_requri()), the first reginfo line ('N - AOR ...')
        whose reg client holds a binding ('Expires Ns')."""
        data = ANSI.sub('', self.command('reginfo')['data'])
        for line in data.splitlines():
            if BARESIP_VERSION == '1.0.0':
                if line.startswith('>'):
                    return line[1:].split()[0]
                continue
            m = re.match(r'\s*\d+ - (\S+)\s.*\bExpires \d+s', line)
            if m:
                return m.group(1)
        return None

    def status(self):
        """serreg's status as a dict ('serreg json')."""
        r = self.command('serreg', 'json')
        if not r.get('ok'):
            raise RigError('serreg json: %s' % r.get('data'))
        return json.loads(r['data'])

    def serreg_events(self, kind, since=0.0):
        """serreg's events of a kind ('move', 'server', 'pin') as dicts,
        with '_time' (serreg_event())."""
        res = []
        for e in self.events(since=since):
            ours = serreg_event(e)
            if not ours or ours[0] != kind:
                continue
            d = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', ours[1]))
            d = {k: v.strip('"') for k, v in d.items()}
            d['_time'] = e['_time']
            res.append(d)
        return res

    def moves(self, since=0.0):
        """serreg's move events as dicts (from, to, reason, ...)."""
        return self.serreg_events('move', since)

    def wait_move(self, to, timeout, since=0.0):
        """Wait for a move to tier `to` ('none' too); the list of such
        moves (empty if none came)."""
        return wait_until(lambda: [m for m in self.moves(since)
                                   if m['to'] == str(to)],
                          timeout=timeout, interval=0.1)


# ---------------------------------------------------------------------
# Test certificates (TLS)
# ---------------------------------------------------------------------

OPENSSL = '/usr/bin/openssl'


class TestCA:
    """A throwaway certificate authority made with openssl in a
    directory: ca.pem (give it to baresip as sip_cafile) and certificates
    for registrars (Kamailio(tls=...)).  EC P-256 keys, valid 2 days.

    issue(name, ips, dns) -> (cert, key): signed by this CA, with a
    subjectAltName of the given IP addresses and DNS names.
    self_signed(name, ips, dns) -> (cert, key): signed by its own key.
    """

    __test__ = False     # not a pytest class

    def __init__(self, directory, cn='serreg test CA'):
        self.dir = os.path.abspath(directory)
        os.makedirs(self.dir, exist_ok=True)
        self.key = os.path.join(self.dir, 'ca.key')
        self.cert = os.path.join(self.dir, 'ca.pem')
        self._openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt',
                      'ec_paramgen_curve:prime256v1', '-nodes',
                      '-keyout', self.key, '-out', self.cert,
                      '-days', '2', '-subj', '/CN=' + cn,
                      '-addext', 'basicConstraints=critical,CA:TRUE',
                      '-addext', 'keyUsage=critical,keyCertSign,cRLSign')

    def _openssl(self, *args):
        out = subprocess.run((OPENSSL,) + args, capture_output=True,
                             text=True, timeout=30, cwd=self.dir)
        if out.returncode != 0:
            raise RigError('openssl %s failed:\n%s'
                           % (args[0], out.stderr))
        return out.stdout

    @staticmethod
    def _san(ips, dns):
        alt = ['IP:' + a for a in ips] + ['DNS:' + d for d in dns]
        return 'subjectAltName=' + ','.join(alt)

    def issue(self, name, ips=(HOST,), dns=()):
        """A certificate for ips/dns signed by this CA."""
        cert = os.path.join(self.dir, name + '.pem')
        key = os.path.join(self.dir, name + '.key')
        csr = os.path.join(self.dir, name + '.csr')
        ext = os.path.join(self.dir, name + '.ext')
        with open(ext, 'w') as f:
            f.write(self._san(ips, dns) + '\n'
                    'basicConstraints=CA:FALSE\n'
                    'extendedKeyUsage=serverAuth\n')
        self._openssl('req', '-newkey', 'ec', '-pkeyopt',
                      'ec_paramgen_curve:prime256v1', '-nodes',
                      '-keyout', key, '-out', csr,
                      '-subj', '/CN=' + (list(dns) + list(ips))[0])
        self._openssl('x509', '-req', '-in', csr, '-CA', self.cert,
                      '-CAkey', self.key, '-CAcreateserial',
                      '-out', cert, '-days', '2', '-extfile', ext)
        return cert, key

    def self_signed(self, name, ips=(HOST,), dns=()):
        """A self-signed certificate for ips/dns (no CA knows it)."""
        cert = os.path.join(self.dir, name + '.pem')
        key = os.path.join(self.dir, name + '.key')
        self._openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt',
                      'ec_paramgen_curve:prime256v1', '-nodes',
                      '-keyout', key, '-out', cert, '-days', '2',
                      '-subj', '/CN=' + (list(dns) + list(ips))[0],
                      '-addext', self._san(ips, dns))
        return cert, key


# ---------------------------------------------------------------------
# DNS (dnsmasq): server sets for test domains
# ---------------------------------------------------------------------

DNSMASQ = '/usr/sbin/dnsmasq'
DNS_START_TIMEOUT = 5.0
QTYPES = {'A': 1, 'NS': 2, 'CNAME': 5, 'SOA': 6, 'AAAA': 28, 'SRV': 33,
          'NAPTR': 35}

SrvTarget = collections.namedtuple('SrvTarget',
                                   'target port prio weight')
DnsAnswer = collections.namedtuple('DnsAnswer',
                                   'rcode records additional')
DnsAnswer.__doc__ = """rcode (0 NOERROR, 3 NXDOMAIN...), records: the
answer section, a list of (type name, ttl, data): data is the address
for A and AAAA (text: '127.0.0.2', '::1'), (prio, weight, port, target)
for SRV, the raw rdata bytes otherwise; additional: the additional
section, as (owner name, type name, ttl, data) (e.g. the A records of
SRV targets)."""


def _dns_name(name):
    return b''.join(bytes([len(p)]) + p.encode()
                    for p in name.strip('.').split('.')) + b'\0'


def _dns_read_name(data, i):
    """(name, offset after it) at data[i], with compression."""
    labels, end = [], None
    for _ in range(128):
        n = data[i]
        if n & 0xc0 == 0xc0:
            if end is None:
                end = i + 2
            i = ((n & 0x3f) << 8) | data[i + 1]
            continue
        if n == 0:
            return '.'.join(labels), (end if end is not None else i + 1)
        labels.append(data[i + 1:i + 1 + n].decode('ascii', 'replace'))
        i += 1 + n
    raise RigError('DNS answer: name loop')


def dns_query(port, name, qtype='A', host=HOST, timeout=1.0):
    """Ask the DNS server at host:port (UDP) for name; a DnsAnswer, or
    None if nothing came within timeout.  For tests of the rig."""
    import struct
    qid = random.randrange(1, 0xffff)
    pkt = (struct.pack('>HHHHHH', qid, 0x0100, 1, 0, 0, 0)
           + _dns_name(name) + struct.pack('>HH', QTYPES[qtype], 1))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(pkt, (host, port))
        data = s.recv(65535)
    except (socket.timeout, ConnectionError):
        return None
    finally:
        s.close()
    _, flags, qd, an, ns, ar = struct.unpack('>HHHHHH', data[:12])
    i = 12
    for _ in range(qd):
        i = _dns_read_name(data, i)[1] + 4
    names = {v: k for k, v in QTYPES.items()}
    sections = []
    for _ in range(an + ns + ar):
        owner, i = _dns_read_name(data, i)
        rtype, _, ttl, rdlen = struct.unpack('>HHIH', data[i:i + 10])
        i += 10
        rdata = data[i:i + rdlen]
        if rtype == 1:
            val = socket.inet_ntoa(rdata)
        elif rtype == 28:
            val = socket.inet_ntop(socket.AF_INET6, rdata)
        elif rtype == 33:
            prio, weight, rport = struct.unpack('>HHH', rdata[:6])
            val = (prio, weight, rport, _dns_read_name(data, i + 6)[0])
        else:
            val = rdata
        sections.append((owner, names.get(rtype, str(rtype)), ttl, val))
        i += rdlen
    return DnsAnswer(flags & 0xf, [r[1:] for r in sections[:an]],
                     [r for r in sections[an + ns:]
                      if r[1] != 'OPT'])


class Dns(_Child):
    """/usr/sbin/dnsmasq on 127.0.0.1:port (UDP+TCP), answering only
    from its own records: SRV, NAPTR, A and AAAA records of test
    domains.

    rundir: a directory for its files (run directory
    rundir/<name>-<port>): dnsmasq.conf (generated), dnsmasq.log (its
    stderr, one line per query: log-queries).  Every domain given is
    served as local (--local=/domain/): names it does not know are
    NXDOMAIN or NODATA at once, never forwarded (--no-resolv
    --no-hosts, no upstream server).  ttl: the TTL of every answer
    (--local-ttl; 0 = no caching at all).

    Records are set with srv(), a(), aaaa(), naptr() (or
    server_set()); they take effect at start(), or at once with apply()
    while running: dnsmasq re-reads --srv-host/--host-record only at
    start, so apply() rewrites the configuration and restarts it on the
    same port (about 0.2 s; a query in that window gets no answer).

    Several addresses of one name (a(name, addr, *more), aaaa()): one
    host-record line per address (a host-record holds at most one IPv4
    and one IPv6 address; address=/name/ would also match every name
    under it).  Debian 12's dnsmasq 2.90 answers every A (AAAA) record
    of the name, and puts all of them in the additional section of an
    SRV answer naming it (test_rig_topologies checks both); the order
    of the records is dnsmasq's: tests must not rely on it.

    config_line: 'dns_server 127.0.0.1:PORT', for Baresip(config=...).
    """

    def __init__(self, rundir, name='dns', port=None, ttl=1):
        self.name = name
        self._own_port = port is None
        self.port = free_tcp_port(udp=True) if port is None else port
        self.rundir = os.path.join(os.path.abspath(rundir),
                                   '%s-%d' % (name, self.port))
        os.makedirs(self.rundir, exist_ok=True)
        self.cfg = os.path.join(self.rundir, 'dnsmasq.conf')
        self.logfile = os.path.join(self.rundir, 'dnsmasq.log')
        self.ttl = ttl
        self.domains = []           # served as local (--local)
        self.srvs = collections.OrderedDict()  # _sip._udp.d -> targets
        self.hosts = collections.OrderedDict()  # name -> [IPv4...]
        self.hosts6 = collections.OrderedDict()  # name -> [IPv6...]
        self.naptrs = []            # (domain, order, pref, flags, ...)
        self.proc = None
        self.started_at = None
        self.start_seconds = None
        _live.append(self)

    def __repr__(self):
        return '<Dns %s %s:%d pid=%s>' % (self.name, HOST, self.port,
                                          self.pid)

    @property
    def config_line(self):
        """The baresip config line that makes it use this server."""
        return 'dns_server %s:%d' % (HOST, self.port)

    # -- records --------------------------------------------------------

    def _domain(self, name):
        d = name.split('.', 2)[-1] if name.startswith('_') else name
        if d not in self.domains:
            self.domains.append(d)

    def a(self, name, addr=HOST, *more):
        """The A records of name: addr and the addresses in more, e.g.
        a('pbx.d', HOST, HOST2), in this order, replacing the earlier
        ones (one --host-record per address)."""
        self._domain(name.split('.', 1)[1] if '.' in name else name)
        self.hosts[name] = [addr] + list(more)
        return self

    def aaaa(self, name, addr='::1', *more):
        """The AAAA records of name (addr, more...), replacing the
        earlier ones; its A records stay."""
        self._domain(name.split('.', 1)[1] if '.' in name else name)
        self.hosts6[name] = [addr] + list(more)
        return self

    def srv(self, domain, targets, proto='udp', service='sip'):
        """The SRV set of _<service>._<proto>.domain (service 'sips',
        proto 'tcp': TLS), replacing any earlier one: targets is a list
        of (target, port, prio, weight) (SrvTarget); each target name
        gets an A record 127.0.0.1 unless it has one (give others with
        a(): before or after srv()).  An empty list removes the set
        (NXDOMAIN)."""
        owner = '_%s._%s.%s' % (service, proto, domain)
        self._domain(domain)
        targets = [SrvTarget(*t) for t in targets]
        if targets:
            self.srvs[owner] = targets
        else:
            self.srvs.pop(owner, None)
        for t in targets:
            if t.target not in self.hosts:
                self.a(t.target)
        return self

    def server_set(self, domain, servers, proto='udp', prios=None,
                   weight=10):
        """srv() for a list of Kamailio (or ports): target
        '<name>.<domain>' (or 's<i>.<domain>') at its port, priorities
        prios (default 10, 20, 30...), all with weight; a target with no
        A record yet gets the Kamailio's host (HOST for a port).
        Returns the SrvTarget list."""
        prios = list(prios or [10 * (i + 1) for i in range(len(servers))])
        targets = []
        for i, s in enumerate(servers):
            label = s.name if isinstance(s, Kamailio) else 's%d' % i
            t = SrvTarget('%s.%s' % (label, domain), _port_of(s),
                          prios[i], weight)
            if t.target not in self.hosts:
                self.a(t.target, _addr_of(s)[0])
            targets.append(t)
        self.srv(domain, targets, proto)
        return targets

    def naptr(self, domain, order, pref, service, replacement,
              flags='S', regexp=''):
        """A NAPTR record of domain, e.g. naptr('d', 10, 10, 'SIP+D2T',
        '_sip._tcp.d') (flags 'S': the replacement is an SRV owner)."""
        self._domain(domain)
        self.naptrs.append((domain, order, pref, flags, service, regexp,
                            replacement))
        return self

    def clear(self):
        """Forget every record (domains stay local: NXDOMAIN)."""
        self.srvs.clear()
        self.hosts.clear()
        self.hosts6.clear()
        del self.naptrs[:]
        return self

    def _write(self):
        lines = ['# generated by test/integration/rig.py (Dns)',
                 'no-resolv', 'no-hosts', 'port=%d' % self.port,
                 'listen-address=%s' % HOST, 'bind-interfaces',
                 'local-ttl=%d' % self.ttl, 'log-queries',
                 'log-facility=-', 'pid-file=', 'user=root',
                 'cache-size=0']
        lines += ['local=/%s/' % d for d in self.domains]
        for owner, targets in self.srvs.items():
            lines += ['srv-host=%s,%s,%d,%d,%d'
                      % (owner, t.target, t.port, t.prio, t.weight)
                      for t in targets]
        lines += ['host-record=%s,%s' % (name, a)
                  for name, addrs in self.hosts.items() for a in addrs]
        lines += ['host-record=%s,%s' % (name, a)
                  for name, addrs in self.hosts6.items() for a in addrs]
        lines += ['naptr-record=%s,%d,%d,%s,%s,%s,%s' % n
                  for n in self.naptrs]
        with open(self.cfg, 'w') as f:
            f.write('\n'.join(lines) + '\n')

    # -- process control ----------------------------------------------

    def start(self, timeout=DNS_START_TIMEOUT):
        """Write the configuration, start dnsmasq in the foreground;
        wait (bounded) until it answers a query."""
        if self.running:
            raise RigError('%r already running' % self)
        self._write()
        t0 = time.monotonic()
        self.started_at = time.time()
        with open(self.logfile, 'ab') as log:
            log.write(b'=== rig: start %.6f ===\n' % self.started_at)
            log.flush()
            self.proc = subprocess.Popen(
                [DNSMASQ, '--keep-in-foreground', '--conf-file=' + self.cfg],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                cwd=self.rundir)

        def answers():
            if self.proc.poll() is not None:
                raise RigError('dnsmasq exited with %s:\n%s'
                               % (self.proc.returncode, self.log()[-2000:]))
            return dns_query(self.port, 'rig-probe.invalid', 'A',
                             timeout=0.2) is not None
        if not wait_until(answers, timeout=timeout, interval=0.02):
            self.stop()
            raise RigError('dnsmasq did not answer in %.0f s:\n%s'
                           % (timeout, self.log()[-2000:]))
        self.start_seconds = time.monotonic() - t0
        return self

    def stop(self):
        """SIGKILL the dnsmasq this object started, and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=REAP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass

    def apply(self):
        """Make the records as set now take effect: restart on the same
        port if running (else nothing; start() writes them)."""
        if self.running:
            self.stop()
            self.start()
        return self

    def close(self):
        """stop() and release the port."""
        self.stop()
        if self in _live:
            _live.remove(self)
        if self._own_port:
            release_port(self.port)

    # -- views ----------------------------------------------------------

    def query(self, name, qtype='A', timeout=1.0):
        """dns_query() against this server."""
        return dns_query(self.port, name, qtype, timeout=timeout)

    def queries(self):
        """Queries received so far (all runs), as (qtype, name)."""
        return re.findall(r'query\[(\w+)\] (\S+) from', self.log())

    def log(self):
        """dnsmasq's log so far (all runs)."""
        return read_log(self.logfile)


class DnsDelay:
    """A DNS proxy in a thread of the test process: UDP on 127.0.0.1:port,
    forwarding every query to `upstream` (a Dns) and its answer back,
    held for a while when asked.  dnsmasq cannot delay an answer; a slow
    resolver is what leaves libre's requests resolving.

    delay(name, seconds): queries for name (any type) that arrive from
    now on are answered `seconds` after they first arrived (0: at once
    again); a query held keeps its time.  The client's retransmissions
    of a query are not forwarded again while it is pending.
    queries(): [(time, qtype, name, held)], held the seconds it was
    held for.  config_line: 'dns_server 127.0.0.1:PORT'."""

    def __init__(self, upstream, port=None):
        import struct
        self._struct = struct
        self.upstream = upstream
        self._own_port = port is None
        self.port = free_tcp_port(udp=True) if port is None else port
        self._delays = {}
        self._pending = {}          # id -> [client, release, answer]
        self._log = []
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((HOST, self.port))
        self._up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._up.bind((HOST, 0))
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        _live.append(self)

    def __repr__(self):
        return '<DnsDelay %s:%d -> %d>' % (HOST, self.port,
                                           self.upstream.port)

    @property
    def config_line(self):
        return 'dns_server %s:%d' % (HOST, self.port)

    def delay(self, name, seconds):
        with self._lock:
            self._delays[name.lower().strip('.')] = float(seconds)

    def queries(self):
        with self._lock:
            return list(self._log)

    def held(self, name=None):
        """Queries held so far (for name, if given)."""
        return [q for q in self.queries() if q[3] and
                (name is None or q[2] == name.lower().strip('.'))]

    def _question(self, data):
        name, i = _dns_read_name(data, 12)
        qtype = self._struct.unpack('>H', data[i:i + 2])[0]
        names = {v: k for k, v in QTYPES.items()}
        return name.lower(), names.get(qtype, str(qtype))

    def _query(self, data, client):
        qid = data[:2]
        now = time.time()
        with self._lock:
            if qid in self._pending:
                return
            try:
                name, qtype = self._question(data)
            except (IndexError, RigError, self._struct.error):
                return
            wait = self._delays.get(name, 0.0)
            self._pending[qid] = [client, now + wait, None]
            self._log.append((now, qtype, name, wait))
        self._up.sendto(data, (HOST, self.upstream.port))

    def _answer(self, data):
        with self._lock:
            p = self._pending.get(data[:2])
            if p is None:
                return
            p[2] = data

    def _flush(self):
        now = time.time()
        with self._lock:
            due = [(k, p) for k, p in self._pending.items()
                   if p[2] is not None and p[1] <= now]
            for k, _ in due:
                del self._pending[k]
        for _, p in due:
            try:
                self._sock.sendto(p[2], p[0])
            except OSError:
                pass

    def _run(self):
        import select
        while not self._stop:
            try:
                r, _, _ = select.select([self._sock, self._up], [], [],
                                        0.02)
            except (OSError, ValueError):
                return
            for s in r:
                try:
                    data, addr = s.recvfrom(65535)
                except OSError:
                    continue
                if len(data) < 12:
                    continue
                if s is self._sock:
                    self._query(data, addr)
                else:
                    self._answer(data)
            self._flush()

    def close(self):
        self._stop = True
        self._thread.join(2)
        self._sock.close()
        self._up.close()
        if self in _live:
            _live.remove(self)
        if self._own_port:
            release_port(self.port)


# ---------------------------------------------------------------------
# RFC 5626 outbound: registrar mode and edge proxies
# ---------------------------------------------------------------------

OUTBOUND_TEMPLATE = os.path.join(HERE, 'kamailio-outbound.cfg.tmpl')
EDGE_TEMPLATE = os.path.join(HERE, 'kamailio-edge.cfg.tmpl')
FLOW_TIMER = 20         # [s] Flow-Timer the edges add to a 2xx


def outbound_registrar(rundir, name='reg', **kw):
    """A Kamailio registrar in outbound mode (not started): use_path,
    outbound_mode 1, calls to every flow (OUTBOUND_TEMPLATE).  The
    fixture way: registrars(1, template=rig.OUTBOUND_TEMPLATE)."""
    return Kamailio(rundir, name, template=OUTBOUND_TEMPLATE, **kw)


Contact = collections.namedtuple('Contact',
                                 'uri expires path instance reg_id '
                                 'received socket')
Contact.__doc__ = """A binding in detail (from ul.lookup): uri, expires
(seconds left, None if permanent), path (the Path header stored, ''),
instance (+sip.instance, ''), reg_id (int, 0 if none), received
('' if none), socket (the registrar's socket it came in on)."""


def ul_lookup(registrar, aor):
    """The text block of each contact of aor in registrar's location
    table (kamcmd ul.lookup), [] if the AoR is not found.  Raises
    RegistrarDown / RegistrarFrozen if it cannot be asked."""
    try:
        out = registrar.rpc('ul.lookup', 'location', _user_of(aor))
    except (RegistrarDown, RegistrarFrozen):
        raise
    except RigError as e:
        # "AOR not found in location table", "AOR has no contacts"
        if re.search(r'AOR (not found|has no contacts)', str(e)):
            return []
        raise
    return out.split('Contact: {')[1:]


def contacts(registrar, aor):
    """The live bindings of aor at registrar as Contact tuples, in the
    order ul.lookup gives them ([] if none).  Raises RegistrarDown /
    RegistrarFrozen like Kamailio.bindings()."""
    res = []
    for block in ul_lookup(registrar, aor):
        def field(name):
            m = re.search(r'\n\s*%s:\s*(.*)' % name, block)
            v = m.group(1).strip() if m else ''
            return '' if v in ('[not set]', '<null>') else v
        exp = field('Expires')
        if exp == 'permanent':
            exp = None
        elif exp.lstrip('-').isdigit() and int(exp) > 0:
            exp = int(exp)
        else:
            continue
        res.append(Contact(field('Address'), exp, field('Path'),
                           field('Instance'), _int(field('Reg-Id')) or 0,
                           field('Received'), field('Socket')))
    return res


class EdgeProxy(Kamailio):
    """An RFC 5626 edge proxy: /usr/sbin/kamailio on host:port
    (UDP+TCP) with the outbound, path, rr and stun modules, relaying
    REGISTERs (with a Path carrying a flow token) to registrar and
    requests down the flows (kamailio-edge.cfg.tmpl).

    Everything of Kamailio works on it (start/stop/freeze/thaw/heal,
    set_reply/set_silent for its own answers, requests()/registers()
    for what it received).  outbound_uri(transport): the URI for an
    account's outbound=/outbound2= parameter."""

    def __init__(self, rundir, name='edge', port=None, registrar=None,
                 flow_timer=FLOW_TIMER, **kw):
        if registrar is None:
            raise ValueError('EdgeProxy needs a registrar')
        kw.setdefault('template', EDGE_TEMPLATE)
        Kamailio.__init__(self, rundir, name, port, **kw)
        self.registrar = registrar
        self.flow_timer = flow_timer
        with open(self.cfg) as f:
            text = f.read()
        text = text.replace('@REGISTRAR@', '%s:%d' % _addr_of(registrar))
        text = text.replace('@FLOWTIMER@', str(flow_timer))
        with open(self.cfg, 'w') as f:
            f.write(text)

    def __repr__(self):
        return '<EdgeProxy %s %s:%d pid=%s>' % (self.name, self.host,
                                                self.port, self.pid)

    def outbound_uri(self, transport='tcp'):
        """'sip:127.0.0.1:PORT;transport=tcp' (no parameter for udp)."""
        uri = 'sip:%s:%d' % (self.host, self.port)
        if transport and transport != 'udp':
            uri += ';transport=' + transport
        return uri

    def set_no_outbound(self, on=True):
        """Act as an edge without RFC 5626 support: a REGISTER that
        asks for a flow (reg-id) is answered 439 First Hop Lacks
        Outbound Support, a plain one is relayed."""
        self._shv('noob', 1 if on else 0)

    def set_register_ok(self, code=202):
        """Answer every REGISTER with a Contact here with code (a 2xx
        other than 200, e.g. 202 Accepted) instead of relaying it: the
        UA's flow through this edge is registered, the registrar gets
        no binding for it.  A binding query (no Contact) is still
        relayed.  set_register_ok(None) relays them all again."""
        if code and not 200 <= int(code) <= 299:
            raise ValueError('set_register_ok: %r is no 2xx' % code)
        self._shv('okcode', int(code or 0))

    def heal(self):
        """Kamailio.heal(), and REGISTERs relayed again."""
        Kamailio.heal(self)
        if self.running:
            self.set_register_ok(None)

    def flows(self):
        """srflow(self)."""
        return srflow(self)


def srflow(k):
    """SRFLOW lines of a kamailio's log (an EdgeProxy, or a registrar
    from OUTBOUND_TEMPLATE): tuples (time, method, callid, what, ruri,
    duri), oldest first.  what: 'to-registrar', 'route-<rc>' (edge),
    'first', 'failed-<code>', 'next-flow', 'next-contact'."""
    res = []
    for line in k.log().splitlines():
        i = line.find('SRFLOW|')
        if i >= 0:
            f = line[i + 7:].split('|')
            if len(f) >= 4:
                res.append((float(f[0]),) + tuple(f[1:]))
    return res


def outbound_account(user, registrar, edges, transport='tcp',
                     regint=DEFAULT_REGINT, extra=''):
    """An account line for user at registrar through RFC 5626 edge
    proxies: ';outbound="<edge 1>";outbound2="<edge 2>";sipnat=outbound'
    (baresip needs the uuid module: Baresip(uuid=True)).  The AoR is
    aor(user, registrar); its URI carries no transport (the Route to
    the edge does)."""
    ob = ''
    for i, e in enumerate(edges):
        ob += ';outbound%s="%s"' % ('' if i == 0 else str(i + 1),
                                    e.outbound_uri(transport)
                                    if isinstance(e, EdgeProxy) else e)
    line = '<%s>;auth_pass=%s;regint=%s%s;sipnat=outbound' % (
        aor(user, registrar), PASSWORD, regint, ob)
    if extra:
        line += extra if extra.startswith(';') else ';' + extra
    return line


# ---------------------------------------------------------------------
# Caller (sipp) and binding sampler
# ---------------------------------------------------------------------

SIPP = '/usr/bin/sipp'
# baresip answers an INVITE whose SDP offers no codec it has with 488
# and raises no CALL_INCOMING: a Baresip that call() reaches needs an
# audio codec, e.g. Baresip(config=rig.CALLEE_CONFIG)
CALLEE_CONFIG = ['module g711.so']

UAC_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="serreg rig: INVITE to an AoR, final answer @EXPECT@">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:caller@[local_ip]:[local_port]>;tag=[pid]rig[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:caller@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=caller 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000

]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="@EXPECT@"/>
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
</scenario>
"""


class SippCall(_Child):
    """One INVITE sent by /usr/bin/sipp (a UAC scenario written at run
    time, -m 1) from HOST for user to via (a Kamailio, at its host; a
    port on HOST or 'host:port'), over UDP; the scenario expects the
    final answer `expect` (an int, 486 by default: what baresip sends
    when the call is hung up before it is answered), then ACKs it.
    sipp gives up after timeout [s] (-timeout, -timeout_error: exit
    status non-zero).

    start() -> self; wait(timeout) -> sipp's exit status (0: the
    expected answer came; None: it had to be killed, by its PID);
    log() -> its output.  Files in rundir: sipp-<n>.xml, sipp-<n>.log.
    """

    _count = [0]

    def __init__(self, rundir, via, user, expect=486, timeout=20):
        self.rundir = os.path.abspath(rundir)
        os.makedirs(self.rundir, exist_ok=True)
        self._count[0] += 1
        n = '%d-%d' % (os.getpid(), self._count[0])
        self.scenario = os.path.join(self.rundir, 'sipp-%s.xml' % n)
        self.logfile = os.path.join(self.rundir, 'sipp-%s.log' % n)
        self.via = via
        self.user = _user_of(user)
        self.expect = int(expect)
        self.timeout = timeout
        self.port = None
        self.proc = None
        self.started_at = None
        _live.append(self)

    def start(self):
        with open(self.scenario, 'w') as f:
            f.write(UAC_SCENARIO.replace('@EXPECT@', str(self.expect)))
        self.port = free_tcp_port(udp=True)
        self.started_at = time.time()
        with open(self.logfile, 'ab') as log:
            self.proc = subprocess.Popen(
                [SIPP, '%s:%d' % _addr_of(self.via),
                 '-sf', self.scenario, '-s', self.user, '-i', HOST,
                 '-p', str(self.port), '-m', '1',
                 '-timeout', '%ds' % max(1, int(round(self.timeout))),
                 '-timeout_error', '-nostdin'],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                cwd=self.rundir)
        return self

    def wait(self, timeout=None):
        """sipp's exit status; SIGKILL by PID (status None) if it has
        not ended within timeout (default: its own timeout + 5 s)."""
        if self.proc is None:
            return None
        try:
            return self.proc.wait(self.timeout + 5 if timeout is None
                                  else timeout)
        except subprocess.TimeoutExpired:
            self.close()
            return None

    def log(self):
        return read_log(self.logfile)

    def close(self):
        """Kill sipp if still running (by PID), release its port."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(REAP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        if self in _live:
            _live.remove(self)
        if self.port is not None:
            release_port(self.port)
            self.port = None


CallResult = collections.namedtuple('CallResult',
                                    'event rc seconds log')
CallResult.__doc__ = """What call() saw: event, baresip's CALL_INCOMING
event (None if none came, or if no baresip was given); rc, sipp's exit
status (0: the expected final answer came; None: killed); seconds, from
sending the INVITE to the event (None without one); log, sipp's
output."""


def call(via, aor_or_user, baresip=None, timeout=10.0, rundir=None,
         expect=None):
    """Send one INVITE to the AoR through via (the Kamailio registrar or
    proxy that should route it: its lookup of the user) with sipp, and
    see whether baresip (a Baresip, optional) got the call: its
    CALL_INCOMING event within timeout [s].  If it came, the call is
    hung up at baresip ('hangup': 486 Busy Here), which ends sipp's
    scenario.  Returns a CallResult; bounded by timeout + 10 s.

    expect: the final answer sipp waits for; default 486 when baresip
    is given, else 404 (no binding at via).  rundir: where sipp's files
    go (default: via's run directory).  The baresip needs an audio
    codec (CALLEE_CONFIG: g711, the one sipp offers), else it answers
    488 and raises no event."""
    if expect is None:
        expect = 486 if baresip is not None else 404
    if rundir is None:
        rundir = getattr(via, 'rundir', None) or tempfile.gettempdir()
    uac = SippCall(rundir, via, aor_or_user, expect, timeout + 3)
    t0 = time.time()
    uac.start()
    ev = None
    try:
        if baresip is not None:
            ev = baresip.wait_event(
                lambda e: e.get('type') == 'CALL_INCOMING', timeout, t0)
            if ev is not None:
                try:
                    baresip.command('hangup')
                except (OSError, TimeoutError):
                    pass
        rc = uac.wait(timeout + 8)
    finally:
        uac.close()
    return CallResult(ev, rc, None if ev is None else ev['_time'] - t0,
                      uac.log())


def binding_gaps(reg, user, until, step=0.5):
    """Sample reg.has_binding(user) every step seconds from now until
    until (a time.time() value).  The gaps: [first sample without a
    binding, first sample with one again (None if none came)]."""
    gaps = []
    for _ in range(int((until - time.time()) / step) + 2):
        t = time.time()
        if t >= until:
            break
        held = reg.has_binding(user)
        if not held and (not gaps or gaps[-1][1] is not None):
            gaps.append([t, None])
        elif held and gaps and gaps[-1][1] is None:
            gaps[-1][1] = t
        time.sleep(step)
    return gaps


SS = '/usr/bin/ss'


def cut_tcp(port, timeout=5.0, host=None):
    """Reset every established TCP connection whose local address is
    host:port (a server of this rig: a registrar's or an edge's SIP
    port; port may be the Kamailio itself, then host defaults to its
    host, else to HOST): `ss -K` destroys the server's socket, the peer
    gets an RST (ECONNRESET), the server keeps running.  A flow dies
    without its server.  Returns how many connections were cut."""
    if isinstance(port, Kamailio):
        host = host or port.host
        port = port.port
    out = subprocess.run(
        [SS, '-K', '-t', '-n', 'state', 'established',
         '( sport = :%d )' % int(port), 'src', host or HOST],
        capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RigError('ss -K: %s' % out.stderr.strip())
    return len([x for x in out.stdout.splitlines()[1:] if x.strip()])


def wait_reachable(via, aor_or_user, baresip, timeout, attempt=6.0,
                   interval=0.5, rundir=None):
    """Call the AoR through via (call()) again and again until a call
    reaches baresip, for at most timeout [s]: the time.time() at which
    the first successful call's CALL_INCOMING came, and the number of
    calls made; (None, n) if none reached it.  Each call is given
    attempt [s] (more than the registrar's fr_timer, 5 s for the outbound
    registrar, when a dead flow is to be skipped); a call answered at
    once (404: no binding) costs about 0.1 s, then interval [s] pause.
    For benchmarks: 'time until an INVITE reaches baresip again'."""
    end = time.monotonic() + timeout
    n = 0
    for _ in range(int(timeout / max(interval, 0.05)) + 2):
        left = end - time.monotonic()
        if left <= 0:
            break
        n += 1
        res = call(via, aor_or_user, baresip, timeout=min(attempt, left),
                   rundir=rundir)
        if res.event is not None:
            return res.event['_time'], n
        time.sleep(min(interval, max(0.0, end - time.monotonic())))
    return None, n
