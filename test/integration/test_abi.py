"""ABI of serreg.so against the platform's baresip and libre: Debian 12's
baresip 1.0.0 with libre 1.1.0, or Debian 13's baresip 1.1.0 with libre
2.0.1 (the baresip-core installed; include/VERSION/baresip.h).

(a) every symbol serreg.so needs is defined by /usr/bin/baresip or the
    libre.so.0/.1 / libc.so.6 it links, or by OpenSSL (libssl.so.3 /
    libcrypto.so.3, for verify.c, which serreg.so links); baresip dlopens
    modules RTLD_LOCAL, so nothing else can provide them;
(b) `exports` is the only symbol serreg.so exports, and it is data;
(c) every function declared in the platform's baresip.h is exported by
    /usr/bin/baresip (the header is hand-written: no -dev package), and
    each ua_event number of the header has the name that the binary's
    uag_event_str() gives it;
(d) serreg.so loads into the real baresip and prints its load line.

Each checker is also run against a throwaway module that needs a symbol
only the other platform has (or a header with a wrong number), to prove
it can fail.  stdlib only; run with /usr/bin/python3 -m pytest from any
directory.  serreg.so is built with `make` if missing.
"""

import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The head of a throwaway module's source: baresip's module export
MOD_EXPORT = ("struct mod_export {\n"
              "\tconst char *name, *type;\n"
              "\tint (*init)(void);\n"
              "\tint (*close)(void);\n"
              "};\n")
MODULE = REPO / "modules" / "serreg" / "serreg.so"
BARESIP = Path(os.environ.get("BARESIP", "/usr/bin/baresip"))


def platform():
    """The baresip-core version installed (as mk/serreg.mk reads it)."""
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}",
                          "baresip-core"], capture_output=True, text=True)
    v = re.sub(r"^\d+:", "", out.stdout.strip())
    return re.sub(r"-[^-]*$", "", v)


PLATFORM = platform()
HEADER = REPO / "include" / PLATFORM / "baresip.h"
COMMON = REPO / "include" / "baresip-common.h"
# libre's soname, and a symbol only the other platform's baresip has
LIBRE_SONAME = {"1.0.0": "libre.so.0", "1.1.0": "libre.so.1"}.get(
    PLATFORM, "libre.so.?")
OTHER_ONLY = {"1.0.0": "ua_fallback", "1.1.0": "ua_aor"}.get(PLATFORM, "?")
MOD_DIR = Path(os.environ.get("MOD_DIR", "/usr/lib/baresip/modules"))

# Undefined weak references every toolchain puts in a shared object
TOOLCHAIN_WEAK = {
    "__gmon_start__",
    "__cxa_finalize",
    "_ITM_deregisterTMCloneTable",
    "_ITM_registerTMCloneTable",
}

ANSI = re.compile(r"\x1b\[[0-9;]*m")
RUN_TIMEOUT = 30      # [s] bound of one baresip run (it quits after -t 2)
MAKE_TIMEOUT = 300    # [s]


def run(argv, timeout=60, **kw):
    """Run a command, return its stdout; fail the test if it fails."""
    for tool in argv[:1]:
        if not shutil.which(tool):
            pytest.fail(f"{tool} not found (make deps)")
    res = subprocess.run(argv, capture_output=True, text=True,
                         timeout=timeout, **kw)
    if res.returncode:
        pytest.fail(f"{' '.join(map(str, argv))} failed ({res.returncode})"
                    f":\n{res.stdout}{res.stderr}")
    return res.stdout


def nm_dynamic(path, which):
    """{name: type} of the dynamic symbols, version suffix removed.

    which is "--defined-only" or "--undefined-only".
    """
    syms = {}
    for line in run(["nm", "-D", which, str(path)]).splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        name = fields[-1].split("@", 1)[0]
        syms[name] = fields[-2]
    return syms


def linked_lib(soname):
    """Path of soname as the dynamic linker resolves it for baresip."""
    out = run(["ldd", str(BARESIP)])
    m = re.search(rf"^\s*{re.escape(soname)}\s+=>\s+(\S+)", out, re.M)
    if not m or not Path(m.group(1)).exists():
        pytest.fail(f"{soname} not found in ldd {BARESIP}:\n{out}")
    return Path(m.group(1))


@pytest.fixture(scope="session")
def module():
    """serreg.so, built with make when it is not there yet."""
    if not MODULE.exists():
        res = subprocess.run(["make", "-C", str(REPO)], capture_output=True,
                             text=True, timeout=MAKE_TIMEOUT)
        if not MODULE.exists():
            pytest.fail(f"make did not build {MODULE} "
                        f"({res.returncode}):\n{res.stdout}{res.stderr}")
    return MODULE


@pytest.fixture(scope="session")
def providers():
    """{object: defined dynamic symbols} that a module can link against."""
    if not BARESIP.exists():
        pytest.fail(f"{BARESIP} not found (make deps)")
    if not HEADER.exists():
        pytest.fail(f"no declarations for baresip '{PLATFORM}' ({HEADER})")
    objs = [BARESIP, linked_lib(LIBRE_SONAME), linked_lib("libc.so.6"),
            linked_lib("libssl.so.3"), linked_lib("libcrypto.so.3")]
    return {obj: nm_dynamic(obj, "--defined-only") for obj in objs}


@pytest.fixture(scope="session")
def bad_module(tmp_path_factory):
    """A module that needs a symbol only the other platform's baresip
    has (1.0.0: ua_fallback, 1.1.0: ua_aor)."""
    d = tmp_path_factory.mktemp("bad")
    src = d / "bad.c"
    src.write_text(
        MOD_EXPORT +
        f"int {OTHER_ONLY}(void *ua);\n"
        f"static int init(void) {{ return {OTHER_ONLY}((void *)0) != 0; }}\n"
        "static int cl(void) { return 0; }\n"
        "__attribute__((visibility(\"default\")))\n"
        "const struct mod_export exports = {\"bad\", \"application\","
        " init, cl};\n")
    so = d / "bad.so"
    run(["cc", "-shared", "-fPIC", "-fvisibility=hidden", "-o", str(so),
         str(src)])
    return so


def unresolved(so, providers):
    """Symbols so needs that no provider defines."""
    need = nm_dynamic(so, "--undefined-only")
    have = set()
    for syms in providers.values():
        have.update(syms)
    return sorted(name for name in need
                  if name not in TOOLCHAIN_WEAK and name not in have)


# (a)

def test_undefined_symbols_resolve(module, providers):
    missing = unresolved(module, providers)
    assert not missing, (
        f"{module.name} needs symbols that neither baresip {PLATFORM} nor the "
        f"libre/libc it links define: {missing}")


def test_undefined_symbols_check_can_fail(bad_module, providers):
    assert unresolved(bad_module, providers) == [OTHER_ONLY]


def test_module_links_only_libc_and_openssl(module):
    """libc, and OpenSSL for verify.c, linked explicitly (-lssl
    -lcrypto) so that dpkg-shlibdeps puts libssl3 in the package's
    Depends; libre and baresip's symbols come from the process."""
    out = run(["readelf", "-d", str(module)])
    needed = re.findall(r"\(NEEDED\).*\[(.+)\]", out)
    assert sorted(needed) == ["libc.so.6", "libcrypto.so.3",
                              "libssl.so.3"], needed


# (b)

def test_only_exports_is_exported(module):
    defined = nm_dynamic(module, "--defined-only")
    assert set(defined) == {"exports"}, (
        f"{module.name} exports more than 'exports': {sorted(defined)}")
    assert defined["exports"] in ("D", "B"), (
        f"'exports' has type {defined['exports']}, expected data (D/B)")


# (c)

def header_functions(text):
    """Names of the functions declared in a C header (not typedefs)."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", " ", text, flags=re.M)
    while True:
        stripped = re.sub(r"\{[^{}]*\}", " ", text)
        if stripped == text:
            break
        text = stripped

    names = []
    for decl in text.split(";"):
        decl = " ".join(decl.split())
        if not decl or decl.startswith("typedef"):
            continue
        m = re.fullmatch(r"(?:extern )?[A-Za-z_][\w *]*?[ *]"
                         r"([A-Za-z_]\w*) ?\((.*)\)", decl)
        if m:
            names.append(m.group(1))
    return names


def test_header_parser():
    names = header_functions(
        "/* c */ int a(void);\n#define X(n) y(n)\n"
        "struct s { int (*f)(int); };\n"
        "typedef void (h)(int x);\n"
        "const char *b(const struct s *s,\n\tint n);\n"
        "struct list *c (void); void d(const char *fmt, ...);\n")
    assert names == ["a", "b", "c", "d"]


def declarations():
    """The platform's header and the common part it includes."""
    return HEADER.read_text() + COMMON.read_text()


def test_header_functions_exported_by_baresip(providers):
    names = header_functions(declarations())
    assert len(names) >= 20, f"parsed too few prototypes: {names}"

    exported = providers[BARESIP]
    missing = [n for n in names if exported.get(n) not in ("T", "W")]
    assert not missing, (
        f"{HEADER.name} declares functions that {BARESIP} does not "
        f"export: {missing}")


def header_events(text):
    """{number: name} of the header's enum ua_event, UA_EVENT_ left out
    (MAX included)."""
    m = re.search(r"enum ua_event \{(.*?)\};", text, re.S)
    assert m, "no enum ua_event in the header"
    body = re.sub(r"/\*.*?\*/", " ", m.group(1), flags=re.S)
    return {int(n): name for name, n in
            re.findall(r"UA_EVENT_(\w+)\s*=\s*(\d+)", body)}


@pytest.fixture(scope="session")
def binary_events(tmp_path_factory):
    """{number: uag_event_str(number)} of the real baresip, 0 to the
    header's MAX + 2, read by a throwaway module at its load."""
    top = max(header_events(HEADER.read_text())) + 2
    d = tmp_path_factory.mktemp("events")
    src = d / "abievents.c"
    src.write_text(
        MOD_EXPORT +
        "const char *uag_event_str(int ev);\n"
        "void info(const char *fmt, ...);\n"
        "static int init(void)\n{\n\tint i;\n"
        f"\tfor (i = 0; i <= {top}; i++)\n"
        "\t\tinfo(\"abi-event %d %s\\n\", i, uag_event_str(i));\n"
        "\treturn 0;\n}\n"
        "static int cl(void) { return 0; }\n"
        "__attribute__((visibility(\"default\")))\n"
        "const struct mod_export exports = {\"abievents\", "
        "\"application\", init, cl};\n")
    so = d / "abievents.so"
    run(["cc", "-shared", "-fPIC", "-fvisibility=hidden", "-o", str(so),
         str(src)])
    (d / "conf").mkdir()
    rc, log = run_baresip(d / "conf", [so])
    found = {int(n): name for n, name in
             re.findall(r"^abi-event (\d+) (\S+)$", log, re.M)}
    assert len(found) == top + 1, log
    return found


# The names uag_event_str() gives that are not the enum's (both 1.0.0
# and 1.1.0); MAX is no event: "?"
EVENT_STR = {"CALL_TRANSFER": "TRANSFER",
             "CALL_TRANSFER_FAILED": "TRANSFER_FAILED",
             "VU_TX": "VU_TX_REPORT", "VU_RX": "VU_RX_REPORT", "MAX": "?"}


def events_disagree(declared, binary):
    """Numbers whose header name is not the binary's."""
    return sorted(n for n, name in declared.items()
                  if binary.get(n) != EVENT_STR.get(name, name))


def test_header_events_are_the_binarys(binary_events):
    declared = header_events(HEADER.read_text())
    assert len(declared) >= 24, declared
    bad = events_disagree(declared, binary_events)
    assert not bad, (
        f"{HEADER}: ua_event numbers that {BARESIP} names otherwise: "
        + ", ".join(f"{n}: {declared[n]} / {binary_events.get(n)}"
                    for n in bad))


def test_events_check_can_fail(binary_events):
    """The other platform's numbering disagrees with this binary."""
    others = [p for p in (REPO / "include").iterdir()
              if p.name != PLATFORM and (p / "baresip.h").exists()]
    assert others, "no other platform's header"
    for other in others:
        declared = header_events((other / "baresip.h").read_text())
        assert events_disagree(declared, binary_events), other


# (d)

def free_port_pair():
    """A port P with P and P+1 free for UDP and TCP (TLS binds P+1)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port > 65000:
            continue
        socks = []
        try:
            for p in (port, port + 1):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    s = socket.socket(socket.AF_INET, kind)
                    socks.append(s)
                    s.bind(("127.0.0.1", p))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    pytest.fail("no free port pair on 127.0.0.1")


def run_baresip(confdir, modules):
    """Run baresip for 2 s with modules loaded by `module`, return its log.

    modules are paths of .so files; they are linked into a module
    directory next to Debian's modules.
    """
    moddir = confdir / "modules"
    moddir.mkdir()
    if not MOD_DIR.is_dir():
        pytest.fail(f"{MOD_DIR} not found (make deps)")
    for so in MOD_DIR.glob("*.so"):
        (moddir / so.name).symlink_to(so)
    for so in modules:
        link = moddir / so.name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(so.resolve())

    port = free_port_pair()
    lines = ["poll_method\tepoll",
             f"sip_listen\t127.0.0.1:{port}",
             f"module_path\t{moddir}"]
    lines += [f"module\t\t{so.name}" for so in modules]
    lines += ["module_app\tmenu.so"]
    (confdir / "config").write_text("\n".join(lines) + "\n")
    (confdir / "accounts").write_text("")

    log = confdir / "baresip.log"
    with open(log, "wb") as out, open(os.devnull, "rb") as devnull:
        proc = subprocess.Popen([str(BARESIP), "-f", str(confdir), "-t", "2"],
                                stdin=devnull, stdout=out,
                                stderr=subprocess.STDOUT, cwd=confdir)
        try:
            rc = proc.wait(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
            rc = None
    text = ANSI.sub("", log.read_text(errors="replace"))
    if rc is None:
        pytest.fail(f"baresip -t 2 still running after {RUN_TIMEOUT} s "
                    f"(killed):\n{text}")
    return rc, text


def load_errors(log, name):
    """Lines of a baresip log that tell the module did not load."""
    return [line for line in log.splitlines()
            if f"module {name}:" in line
            or (line.startswith("dl:") and f"/{name}" in line)]


def test_module_loads_into_baresip(module, tmp_path):
    rc, log = run_baresip(tmp_path, [module])

    assert not load_errors(log, module.name), log
    assert "undefined symbol" not in log, log
    assert re.search(r"^serreg: ", log, re.M), (
        f"no 'serreg:' load line in the log:\n{log}")
    assert "baresip is ready" in log, log
    assert rc == 0, f"baresip exited with {rc}:\n{log}"


def test_load_check_can_fail(module, bad_module, tmp_path):
    rc, log = run_baresip(tmp_path, [bad_module, module])

    errors = load_errors(log, bad_module.name)
    assert any(f"undefined symbol: {OTHER_ONLY}" in e for e in errors), log
    assert not load_errors(log, module.name), log
