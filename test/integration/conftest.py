"""pytest fixtures: registrars and baresip, cleaned up by PID."""

import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import rig  # noqa: E402


@pytest.fixture(scope='session', autouse=True)
def built_module():
    """Build serreg.so once per run (make is a no-op when up to date)."""
    subprocess.run(['make', '-C', rig.ROOT, '-s', 'all'], check=True,
                   timeout=300)
    assert os.path.exists(rig.MODULE)


@pytest.fixture
def registrars(tmp_path):
    """registrars(n) -> n started kamailio instances."""
    started = []

    def make(n):
        regs = [rig.Kamailio(str(tmp_path), 'reg%d' % i)
                for i in range(n)]
        for r in regs:
            started.append(r)
            r.start()
        return regs

    yield make
    for r in started:
        r.thaw()
        r.stop()


@pytest.fixture
def baresip(tmp_path):
    """baresip(accounts, config=()) -> a started Baresip with serreg."""
    started = []

    def make(accounts, config=(), **kw):
        b = rig.Baresip(str(tmp_path / ('baresip%d' % len(started))),
                        accounts, config, **kw)
        started.append(b)
        return b.start()

    yield make
    for b in started:
        try:
            b.quit(timeout=40)
        except Exception:
            b.kill()
