"""Test rig: real kamailio registrars and the real baresip with serreg.

Everything runs on 127.0.0.1 with ports picked at run time.  Every wait is
bounded; only processes started here are signalled, by PID (kamailio runs
in its own process group, so its children are stopped with it).
"""

import json
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
MODULE = os.path.join(ROOT, 'modules', 'serreg', 'serreg.so')
BARESIP = '/usr/bin/baresip'
KAMAILIO = '/usr/sbin/kamailio'
KAMCMD = '/usr/sbin/kamcmd'
DEBIAN_MODULES = '/usr/lib/baresip/modules'
PASSWORD = 'testpass'
ANSI = re.compile(r'\x1b\[[0-9;]*m')

_taken = set()
_lock = threading.Lock()


def _free(port, kinds):
    for kind in kinds:
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(('127.0.0.1', port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_port(span=1):
    """A port P such that P..P+span-1 are free for UDP and TCP, with a
    gap of at least 2 to any port handed out before."""
    kinds = (socket.SOCK_DGRAM, socket.SOCK_STREAM)
    with _lock:
        for _ in range(2000):
            p = random.randrange(20000, 60000)
            near = range(p - 2, p + span + 2)
            if any(q in _taken for q in near):
                continue
            if all(_free(q, kinds) for q in range(p, p + span)):
                _taken.update(range(p, p + span))
                return p
    raise RuntimeError('no free port found')


def wait_until(pred, timeout=10.0, interval=0.1):
    """Poll pred() until it is truthy or timeout; return its last value."""
    end = time.monotonic() + timeout
    while True:
        val = pred()
        if val or time.monotonic() >= end:
            return val
        time.sleep(interval)


def account_line(user, reg, prio=None, fbregint=None, regint=10,
                 transport='udp', extra=''):
    """An accounts-file line for user at registrar reg (a Kamailio)."""
    uri = 'sip:%s@127.0.0.1:%d' % (user, reg.port)
    if transport != 'udp':
        uri += ';transport=' + transport
    line = '<%s>;auth_pass=%s;regint=%d' % (uri, PASSWORD, regint)
    if prio is not None:
        line += ';prio=%s' % prio
    if fbregint is not None:
        line += ';fbregint=%s' % fbregint
    return line + extra


def aor(user, reg):
    return 'sip:%s@127.0.0.1:%d' % (user, reg.port)


class Request:
    """One request as logged by a registrar."""

    def __init__(self, fields):
        (sec, usec, self.method, self.user, self.contact, self.expires_hdr,
         self.callid, self.cseq, self.auth) = fields
        self.time = int(sec) + int(usec) / 1e6
        m = re.search(r'expires=(\d+)', self.contact)
        if m:
            self.expires = int(m.group(1))
        elif self.expires_hdr.isdigit():
            self.expires = int(self.expires_hdr)
        else:
            self.expires = None
        self.authorized = self.auth not in ('', '<null>')

    def __repr__(self):
        return '<%s %s exp=%s t=%.3f>' % (self.method, self.user,
                                           self.expires, self.time)


class Kamailio:
    """One registrar on 127.0.0.1:port with its own run directory."""

    def __init__(self, rundir, name='reg'):
        self.name = name
        self.port = free_port(2)
        self.rundir = os.path.join(rundir, '%s-%d' % (name, self.port))
        os.makedirs(self.rundir, exist_ok=True)
        self.cfg = os.path.join(self.rundir, 'kamailio.cfg')
        self.logfile = os.path.join(self.rundir, 'kamailio.log')
        self.sock = os.path.join(self.rundir, 'ctl.sock')
        with open(os.path.join(HERE, 'kamailio.cfg.tmpl')) as f:
            text = f.read()
        text = text.replace('@PORT@', str(self.port))
        text = text.replace('@RUNDIR@', self.rundir)
        with open(self.cfg, 'w') as f:
            f.write(text)
        self.proc = None
        self.frozen = False

    def start(self):
        log = open(self.logfile, 'a')
        self.proc = subprocess.Popen(
            [KAMAILIO, '-f', self.cfg, '-DD', '-E', '-m', '32', '-M', '8',
             '-P', os.path.join(self.rundir, 'kamailio.pid'),
             '-Y', self.rundir],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            start_new_session=True)
        log.close()
        if not wait_until(self._answers, timeout=15):
            raise RuntimeError('kamailio %s did not start: %s'
                               % (self.name, self.log()[-2000:]))
        return self

    def _answers(self):
        if self.proc.poll() is not None:
            raise RuntimeError('kamailio exited: ' + self.log()[-2000:])
        return self.rpc('core.version', check=False) is not None

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _signal(self, sig):
        if self.running:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self):
        """SIGKILL the registrar and all its children."""
        self._signal(signal.SIGKILL)
        if self.proc:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.frozen = False

    def freeze(self):
        """SIGSTOP: requests are received but never answered."""
        self._signal(signal.SIGSTOP)
        self.frozen = True

    def thaw(self):
        self._signal(signal.SIGCONT)
        self.frozen = False

    def restart(self):
        self.stop()
        return self.start()

    def rpc(self, *args, check=True):
        try:
            out = subprocess.run([KAMCMD, '-s', 'unix:' + self.sock]
                                 + list(args), capture_output=True,
                                 text=True, timeout=5)
        except subprocess.TimeoutExpired:
            if check:
                raise
            return None
        if out.returncode != 0:
            if check:
                raise RuntimeError('kamcmd %s: %s' % (args, out.stderr))
            return None
        return out.stdout

    def set_reply(self, code, retry_after=0):
        """Answer every REGISTER/OPTIONS with code (None: normal)."""
        self.rpc('pv.shvSet', 'ra', 'int', str(retry_after or 0))
        self.rpc('pv.shvSet', 'code', 'int', str(code or 0))

    def bindings(self, user):
        """Contacts bound for user now, as a list of (uri, expires)."""
        out = subprocess.run([KAMCMD, '-s', 'unix:' + self.sock,
                              'ul.lookup', 'location', user],
                             capture_output=True, text=True, timeout=5)
        if out.returncode != 0:
            if 'not found' in (out.stderr + out.stdout).lower():
                return []
            raise RuntimeError('ul.lookup: ' + out.stderr)
        res = []
        for m in re.finditer(r'Address:\s*(\S+)\s+Expires:\s*(-?\d+)',
                             out.stdout):
            if int(m.group(2)) > 0:
                res.append((m.group(1), int(m.group(2))))
        return res

    def has_binding(self, user):
        return bool(self.bindings(user))

    def requests(self, method=None, user=None, since=0.0):
        res = []
        for line in self.log().splitlines():
            i = line.find('SRREQ|')
            if i < 0:
                continue
            fields = line[i + 6:].split('|')
            if len(fields) != 9:
                continue
            r = Request(fields)
            if method and r.method != method:
                continue
            if user and r.user != user:
                continue
            if r.time < since:
                continue
            res.append(r)
        return res

    def registers(self, user=None, since=0.0):
        """REGISTERs with expires>0 (each digest retry counts too)."""
        return [r for r in self.requests('REGISTER', user, since)
                if r.expires]

    def probes(self, user=None, since=0.0):
        """expires=0 REGISTERs, one per probe (the retry with
        credentials after the 401 is not counted)."""
        return [r for r in self.requests('REGISTER', user, since)
                if r.expires == 0 and not r.authorized]

    def log(self):
        try:
            with open(self.logfile, errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''


class Baresip:
    """The real /usr/bin/baresip with serreg, driven over ctrl_tcp."""

    def __init__(self, confdir, accounts, config=(), serreg=True,
                 serreg_line='module serreg.so'):
        self.confdir = confdir
        os.makedirs(confdir, exist_ok=True)
        self.sip_port = free_port(2)
        self.ctrl_port = free_port(1)
        moddir = os.path.join(confdir, 'modules')
        os.makedirs(moddir, exist_ok=True)
        for name in os.listdir(DEBIAN_MODULES):
            dst = os.path.join(moddir, name)
            if not os.path.lexists(dst):
                os.symlink(os.path.join(DEBIAN_MODULES, name), dst)
        if serreg:
            dst = os.path.join(moddir, 'serreg.so')
            if not os.path.lexists(dst):
                os.symlink(MODULE, dst)
        lines = ['poll_method epoll',
                 'sip_listen 127.0.0.1:%d' % self.sip_port,
                 'module_path ' + moddir]
        if serreg and serreg_line.startswith('module '):
            lines.append(serreg_line)
        lines += ['module_app account.so', 'module_app menu.so',
                  'module_app ctrl_tcp.so',
                  'ctrl_tcp_listen 127.0.0.1:%d' % self.ctrl_port]
        if serreg and not serreg_line.startswith('module '):
            lines.append(serreg_line)
        lines += list(config)
        with open(os.path.join(confdir, 'config'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
        with open(os.path.join(confdir, 'accounts'), 'w') as f:
            f.write('\n'.join(accounts) + '\n')
        self.logfile = os.path.join(confdir, 'baresip.log')
        self.proc = None
        self.sock = None
        self._events = []
        self._responses = []
        self._cond = threading.Condition()
        self._token = 0
        self.started = None

    def start(self):
        log = open(self.logfile, 'a')
        self.started = time.time()
        self.proc = subprocess.Popen([BARESIP, '-f', self.confdir],
                                     stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=log)
        log.close()
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError('baresip exited: ' + self.log()[-3000:])
            try:
                self.sock = socket.create_connection(
                    ('127.0.0.1', self.ctrl_port), timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError('ctrl_tcp not reachable: ' + self.log())
        self.sock.settimeout(None)
        threading.Thread(target=self._reader, daemon=True).start()
        return self

    def _reader(self):
        buf = b''
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            buf += data
            while True:
                i = buf.find(b':')
                if i < 0:
                    break
                n = int(buf[:i])
                if len(buf) < i + 1 + n + 1:
                    break
                msg = json.loads(buf[i + 1:i + 1 + n])
                buf = buf[i + 2 + n:]
                with self._cond:
                    msg['_time'] = time.time()
                    if msg.get('event'):
                        self._events.append(msg)
                    else:
                        self._responses.append(msg)
                    self._cond.notify_all()

    def command(self, name, params='', timeout=5):
        """Run a long command over ctrl_tcp; returns the response dict."""
        with self._cond:
            self._token += 1
            token = 't%d' % self._token
        body = json.dumps({'command': name, 'params': params,
                           'token': token}).encode()
        self.sock.sendall(b'%d:%s,' % (len(body), body))
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                for r in self._responses:
                    if r.get('token') == token:
                        self._responses.remove(r)
                        return r
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError('no response to ' + name)
                self._cond.wait(left)

    def events(self, type=None, since=0.0):
        with self._cond:
            return [e for e in self._events
                    if (type is None or e.get('type') == type)
                    and e['_time'] >= since]

    def moves(self, since=0.0):
        """serreg's move events as dicts: from, to, reason, answer."""
        res = []
        for e in self.events('?', since):
            p = e.get('param', '')
            if not p.startswith('serreg move '):
                continue
            d = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', p))
            d = {k: v.strip('"') for k, v in d.items()}
            d['_time'] = e['_time']
            res.append(d)
        return res

    def wait_move(self, to, timeout, since=0.0):
        """Wait for a move to tier `to` (a string, 'none' too)."""
        return wait_until(lambda: [m for m in self.moves(since)
                                   if m['to'] == str(to)],
                          timeout=timeout, interval=0.1)

    def status(self):
        r = self.command('serreg', 'json')
        return json.loads(r['data'])

    def current_aor(self):
        """The AoR baresip's reginfo marks as current ('>')."""
        data = ANSI.sub('', self.command('reginfo')['data'])
        for line in data.splitlines():
            if line.startswith('>'):
                return line[1:].split()[0]
        return None

    def quit(self, timeout=40):
        """Send quit; returns the seconds until the process exited."""
        if not self.proc or self.proc.poll() is not None:
            return 0.0
        t0 = time.monotonic()
        try:
            body = json.dumps({'command': 'quit'}).encode()
            self.sock.sendall(b'%d:%s,' % (len(body), body))
        except OSError:
            pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        return time.monotonic() - t0

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log(self):
        try:
            with open(self.logfile, errors='replace') as f:
                return ANSI.sub('', f.read())
        except FileNotFoundError:
            return ''
