"""A scripted SIP peer for fault tests: a registrar that misbehaves.

SipPeer listens on 127.0.0.1 (UDP, a free port from rig.py) in a thread
of the test process and answers every request according to its mode,
which the test may change at any time with set(mode, **opts):

  ok            REGISTER: 200 with the Contact echoed (and a binding
                kept, see bindings()); a REGISTER without Contact (a
                query) gets the binding held, as RFC 3261 10.3 step 8
                says; OPTIONS: 200
  code          answer every request with opts['code'] (and the
                extra header lines in opts['headers'], a dict)
  challenge     401 with a fresh digest challenge, forever: no
                credentials are ever accepted (opts['stale']: mark
                every challenge stale=true)
  min_expires   a REGISTER asking for 0 < expires < opts['min'] gets
                423 Interval Too Brief with Min-Expires; anything else
                as in ok
  garbage       random bytes (opts['size'], default 300)
  truncated     the first half of the 200 that ok would send
  wrong_callid  the 200 that ok would send, with another Call-ID
  wrong_cseq    the 200 that ok would send, CSeq number + 1
  wrong_method  the 200 that ok would send, CSeq method INVITE
  trying        100 Trying, and never a final answer
  silent        nothing

Every request is logged (requests()), whatever the mode.  Run alone
(python3 sippeer.py --port 5060 --mode code --code 503) it serves until
interrupted; in tests, use it as a context manager or call close().
"""

import argparse
import collections
import os
import re
import socket
import threading
import time
import uuid

import rig

Received = collections.namedtuple(
    'Received', 'time method user expires callid cseq authorized answer')
Received.__doc__ = """One request the peer got: arrival time.time(),
method, From user, expires (Contact param, else Expires header, else
None), Call-ID, CSeq number, carried Authorization, and what the peer
did ('200', '423', 'garbage', 'none', ...)."""

COMPACT = {'v': 'via', 'f': 'from', 't': 'to', 'i': 'call-id',
           'm': 'contact', 'l': 'content-length'}
MODES = ('ok', 'code', 'challenge', 'min_expires', 'garbage',
         'truncated', 'wrong_callid', 'wrong_cseq', 'wrong_method',
         'trying', 'silent')


def parse(data):
    """(start line, [(name lower, value)]) of a SIP message, or None."""
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError:
        return None
    head = text.split('\r\n\r\n', 1)[0]
    lines = head.split('\r\n')
    hdrs = []
    for line in lines[1:]:
        if line[:1] in (' ', '\t') and hdrs:
            hdrs[-1] = (hdrs[-1][0], hdrs[-1][1] + ' ' + line.strip())
            continue
        name, sep, value = line.partition(':')
        if not sep:
            continue
        name = name.strip().lower()
        hdrs.append((COMPACT.get(name, name), value.strip()))
    return lines[0], hdrs


def first(hdrs, name):
    """First value of header name, or None."""
    for n, v in hdrs:
        if n == name:
            return v
    return None


class SipPeer:
    """A scripted SIP responder on 127.0.0.1:port (UDP)."""

    def __init__(self, port=None, mode='ok', name='peer', **opts):
        self.name = name
        self.host = rig.HOST
        self._own_port = port is None
        self.port = rig.free_port_block() if port is None else port
        self._lock = threading.Lock()
        self._log = []
        self._bindings = {}         # user -> (expiry monotonic, URI)
        self.mode, self.opts = 'ok', {}
        self.set(mode, **opts)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((self.host, self.port))
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve,
                                        name='sippeer-%d' % self.port,
                                        daemon=True)
        self._thread.start()

    def __repr__(self):
        return '<SipPeer %s %s:%d mode=%s>' % (self.name, self.host,
                                               self.port, self.mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- control --------------------------------------------------------

    def set(self, mode, **opts):
        """Answer from now on as mode says (see the module doc)."""
        if mode not in MODES:
            raise ValueError('SipPeer: unknown mode %r' % mode)
        with self._lock:
            self.mode, self.opts = mode, dict(opts)

    def close(self):
        """Stop serving and give the port back."""
        self._stop.set()
        self._thread.join(timeout=2.0)
        self.sock.close()
        if self._own_port:
            rig.release_port(self.port)

    # -- truth ----------------------------------------------------------

    def requests(self, method=None, since=0.0, user=None):
        """Requests received (oldest first), as Received tuples."""
        with self._lock:
            return [r for r in self._log
                    if (method is None or r.method == method)
                    and (user is None or r.user == user)
                    and r.time >= since]

    def probes(self, since=0.0, user=None):
        """REGISTERs with expires=0 (probes, un-REGISTERs)."""
        return [r for r in self.requests('REGISTER', since, user)
                if r.expires == 0]

    def registers(self, since=0.0, user=None):
        """REGISTERs asking for a binding."""
        return [r for r in self.requests('REGISTER', since, user)
                if r.expires != 0]

    def has_binding(self, user):
        """True if user holds a binding here now (mode ok and
        min_expires keep them; other modes leave them alone)."""
        with self._lock:
            held = self._bindings.get(rig._user_of(user))
        return held is not None and held[0] > time.monotonic()

    def log(self):
        """The request log as text (for failure reports)."""
        return '\n'.join('%.3f %s %s exp=%s cseq=%s auth=%d -> %s'
                         % (r.time, r.method, r.user, r.expires, r.cseq,
                            r.authorized, r.answer)
                         for r in self.requests())

    # -- serving --------------------------------------------------------

    def _serve(self):
        # bounded by the stop event; each recv waits at most 0.2 s
        while not self._stop.is_set():
            try:
                data, src = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                out, what = self._answer(data)
            except Exception as e:          # never die on bad input
                out, what = None, 'error %s' % e
            if out:
                try:
                    self.sock.sendto(out, src)
                except OSError:
                    pass
            if what is not None:
                self._record(data, what)

    def _record(self, data, what):
        p = parse(data)
        if p is None:
            return
        start, hdrs = p
        method = start.split(' ', 1)[0]
        if method == 'SIP/2.0':
            return
        user = re.search(r'sips?:([^@;>]+)@', first(hdrs, 'from') or '')
        cseq = (first(hdrs, 'cseq') or '0').split()
        with self._lock:
            self._log.append(Received(
                time.time(), method, user.group(1) if user else '',
                self._expires(hdrs), first(hdrs, 'call-id'),
                int(cseq[0]) if cseq and cseq[0].isdigit() else None,
                first(hdrs, 'authorization') is not None, what))

    @staticmethod
    def _expires(hdrs):
        """Contact expires param, else Expires header, else None."""
        c = first(hdrs, 'contact') or ''
        m = re.search(r';\s*expires\s*=\s*(\d+)', c)
        if m:
            return int(m.group(1))
        e = first(hdrs, 'expires')
        return int(e) if e and e.strip().isdigit() else None

    def _answer(self, data):
        """(bytes to send or None, what to log or None)."""
        p = parse(data)
        if p is None:
            return None, None
        start, hdrs = p
        parts = start.split()
        if not parts or parts[0] == 'SIP/2.0' or parts[0] == 'ACK':
            return None, None
        method = parts[0]
        with self._lock:
            mode, opts = self.mode, dict(self.opts)

        if mode == 'silent':
            return None, 'none'
        if mode == 'trying':
            return self._reply(hdrs, 100, {}), '100'
        if mode == 'garbage':
            n = int(opts.get('size', 300))
            return os.urandom(n), 'garbage'
        if mode == 'code':
            code = int(opts['code'])
            return self._reply(hdrs, code, opts.get('headers', {})), \
                str(code)
        if mode == 'challenge':
            ch = ('Digest realm="%s", nonce="%s", algorithm=MD5, '
                  'qop="auth"' % (self.host, uuid.uuid4().hex))
            if opts.get('stale'):
                ch += ', stale=true'
            return self._reply(hdrs, 401, {'WWW-Authenticate': ch}), '401'
        expires = self._expires(hdrs)
        if (mode == 'min_expires' and method == 'REGISTER' and expires
                and expires < int(opts['min'])):
            return self._reply(hdrs, 423,
                               {'Min-Expires': str(opts['min'])}), '423'

        out = self._ok(method, hdrs, expires)
        if mode == 'truncated':
            return out[:len(out) // 2], 'truncated'
        if mode == 'wrong_callid':
            out = re.sub(rb'(?m)^Call-ID: .*$',
                         b'Call-ID: ' + uuid.uuid4().hex.encode()
                         + b'@wrong', out)
            return out, 'wrong_callid'
        if mode == 'wrong_cseq':
            m = re.search(rb'(?m)^CSeq: (\d+) ', out)
            out = out[:m.start(1)] + str(int(m.group(1)) + 1).encode() \
                + out[m.end(1):]
            return out, 'wrong_cseq'
        if mode == 'wrong_method':
            out = re.sub(rb'(?m)^CSeq: (\d+) \S+', rb'CSeq: \1 INVITE',
                         out)
            return out, 'wrong_method'
        return out, '200'

    def _ok(self, method, hdrs, expires):
        """200 OK; for a REGISTER with a Contact the binding is kept
        (or dropped for expires=0) and the Contact echoed; for one
        without, the binding held is listed."""
        extra = {}
        contact = first(hdrs, 'contact')
        user = re.search(r'sips?:([^@;>]+)@', first(hdrs, 'to') or '')
        name = user.group(1) if user else ''
        if method == 'REGISTER' and contact and contact != '*':
            exp = 3600 if expires is None else expires
            uri = re.sub(r';\s*expires\s*=\s*\d+', '', contact)
            with self._lock:
                if exp:
                    self._bindings[name] = (time.monotonic() + exp, uri)
                else:
                    self._bindings.pop(name, None)
            if exp:
                extra['Contact'] = '%s;expires=%d' % (uri, exp)
        elif method == 'REGISTER' and not contact:
            with self._lock:
                held = self._bindings.get(name)
            left = held and int(held[0] - time.monotonic())
            if left and left > 0:
                extra['Contact'] = '%s;expires=%d' % (held[1], left)
        return self._reply(hdrs, 200, extra)

    def _reply(self, hdrs, code, extra):
        reason = {100: 'Trying', 200: 'OK'}.get(code) or \
            rig.REASONS.get(code, 'Fault')
        lines = ['SIP/2.0 %d %s' % (code, reason)]
        for n, v in hdrs:
            if n == 'via':
                lines.append('Via: ' + v)
        for name, key in (('From', 'from'), ('To', 'to'),
                          ('Call-ID', 'call-id'), ('CSeq', 'cseq')):
            v = first(hdrs, key) or ''
            if key == 'to' and ';tag=' not in v:
                v += ';tag=%s' % uuid.uuid4().hex[:10]
            lines.append('%s: %s' % (name, v))
        for n, v in extra.items():
            lines.append('%s: %s' % (n, v))
        lines += ['Server: serreg-rig sippeer %s' % self.name,
                  'Content-Length: 0']
        return ('\r\n'.join(lines) + '\r\n\r\n').encode()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--mode', default='ok', choices=MODES)
    ap.add_argument('--code', type=int, default=503)
    ap.add_argument('--min', type=int, default=60)
    ap.add_argument('--seconds', type=float, default=3600.0)
    a = ap.parse_args()
    opts = {'code': a.code} if a.mode == 'code' else {}
    if a.mode == 'min_expires':
        opts['min'] = a.min
    with SipPeer(a.port, a.mode, **opts) as peer:
        print('%r serving for %.0f s' % (peer, a.seconds), flush=True)
        end = time.monotonic() + a.seconds
        try:
            while time.monotonic() < end:
                time.sleep(min(1.0, max(0.0, end - time.monotonic())))
        except KeyboardInterrupt:
            pass
        print(peer.log())


if __name__ == '__main__':
    main()
